# Two commands on a fresh machine (Python 3.11 or older with venv):
#   make run    set up, then paint input/content.jpg in the style of input/style.jpg
#   make test   set up, then run the tests
#   make lint   ruff (lint and format) and mypy on the package; the README's flag table
#   make gpu    set up .venv-gpu with MXNet's CUDA build (then: .venv-gpu/bin/nstyle --gpu 0)
#   make bench  nstyle beside a PyTorch peer (bench/compare.py; PyTorch in its own .venv-bench)
PYTHON ?= python3
VENV ?= .venv
GPU_VENV ?= .venv-gpu
BENCH_VENV ?= .venv-bench
PY := $(VENV)/bin/python
PIP = -m pip install -q --disable-pip-version-check
ARGS ?=

.PHONY: run test lint samples gpu bench clean

CHECK_PYTHON = @$(PYTHON) -c 'import sys; sys.exit("nstyle needs Python <= 3.11 (MXNet 1.9.1); set PYTHON=python3.11" if sys.version_info >= (3, 12) else 0)'

# The package is installed in editable mode, its pinned dependencies from the requirements
# files (pyproject.toml lists the same pins; a test keeps them equal).
$(VENV)/.installed: requirements.txt requirements-common.txt requirements-test.txt pyproject.toml
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP) -r requirements-test.txt
	$(PY) $(PIP) --no-deps -e .
	touch $@

run: $(VENV)/.installed
	$(PY) run.py $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest $(ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check nstyle bench tests docs input run.py model_vgg19.py
	$(PY) -m ruff format --check nstyle bench tests docs input run.py model_vgg19.py
	$(PY) -m mypy
	$(PY) docs/make_flag_table.py --check

gpu: $(GPU_VENV)/.installed

$(GPU_VENV)/.installed: requirements-gpu.txt requirements-common.txt pyproject.toml
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python $(PIP) -r requirements-gpu.txt
	$(GPU_VENV)/bin/python $(PIP) --no-deps -e .
	touch $@

$(BENCH_VENV)/.installed: bench/requirements.txt
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python $(PIP) -r bench/requirements.txt
	touch $@

bench: $(VENV)/.installed $(BENCH_VENV)/.installed
	$(PY) -m bench.compare --peer-python $(BENCH_VENV)/bin/python $(ARGS)

samples: $(VENV)/.installed
	$(PY) input/make_samples.py

clean:
	rm -rf $(VENV) $(GPU_VENV) $(BENCH_VENV) output/*.jpg
