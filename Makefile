# Two commands on a fresh machine (Python 3.11 with venv):
#   make run    set up, then paint input/content.jpg in the style of input/style.jpg
#   make test   set up (Debian's Chromium too, for the browser test), then run the tests
#   make serve  set up, then serve the web app on http://127.0.0.1:8000 (ARGS="--port 8080")
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

.PHONY: run test lint serve chromium samples gpu bench clean

CHECK_PYTHON = @$(PYTHON) -c 'import sys; sys.exit("nstyle needs Python 3.11 (MXNet 1.9.1, Starlette); set PYTHON=python3.11" if sys.version_info[:2] != (3, 11) else 0)'

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

test: $(VENV)/.installed chromium
	$(PY) -m pytest $(ARGS)

serve: $(VENV)/.installed
	$(PY) -m nstyle.web $(ARGS)

# The browser test drives Debian's Chromium through Playwright (Playwright's own browser
# download is not used). Installed when missing: as root (CI), or through sudo; where that
# fails outside CI, the browser test is skipped (in CI it fails).
CHROMIUM ?= /usr/bin/chromium
APT = $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get -q
chromium:
	@test -x $(CHROMIUM) || $(APT) install -y chromium || \
		{ $(APT) update && $(APT) install -y chromium; } || \
		{ [ -z "$$CI" ] && echo "make: could not install chromium; the browser test will be skipped"; }

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
