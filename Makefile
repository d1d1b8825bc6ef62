# Two commands on a fresh machine (Python 3.11 or older with venv):
#   make run    set up, then paint input/content.jpg in the style of input/style.jpg
#   make test   set up, then run the tests
#   make gpu    set up .venv-gpu with MXNet's CUDA build (then: .venv-gpu/bin/python run.py --gpu 0)
#   make bench  nstyle beside a PyTorch peer (bench/run.py; PyTorch in its own .venv-bench)
PYTHON ?= python3
VENV ?= .venv
GPU_VENV ?= .venv-gpu
BENCH_VENV ?= .venv-bench
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test samples gpu bench clean

CHECK_PYTHON = @$(PYTHON) -c 'import sys; sys.exit("nstyle needs Python <= 3.11 (MXNet 1.9.1); set PYTHON=python3.11" if sys.version_info >= (3, 12) else 0)'

$(VENV)/.installed: requirements.txt requirements-common.txt requirements-test.txt
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

run: $(VENV)/.installed
	$(PY) run.py $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest

gpu: $(GPU_VENV)/.installed

$(GPU_VENV)/.installed: requirements-gpu.txt requirements-common.txt
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-gpu.txt
	touch $@

$(BENCH_VENV)/.installed: bench/requirements.txt
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: $(VENV)/.installed $(BENCH_VENV)/.installed
	$(PY) bench/run.py --peer-python $(BENCH_VENV)/bin/python $(ARGS)

samples: $(VENV)/.installed
	$(PY) input/make_samples.py

clean:
	rm -rf $(VENV) $(GPU_VENV) $(BENCH_VENV) output/*.jpg
