# Two commands on a fresh machine (Python 3.11, 3.12 or 3.13 with venv; PYTHON=python3.13
# picks another than python3):
#   make run    set up, then paint input/content.jpg in the style of input/style.jpg
#   make test   set up (Debian's Chromium too, for the browser test), then run the tests
#   make serve  set up, then serve the web app on http://127.0.0.1:8000 (ARGS="--port 8080")
#   make lint   ruff (lint and format) and mypy on the package; the README's flag table
#   make gpu    set up .venv-gpu with MXNet's CUDA build (then: .venv-gpu/bin/nstyle --gpu 0)
#   make bench  nstyle beside a PyTorch peer (bench/compare.py; PyTorch in its own .venv-bench)
#   make wheel  dist/nstyle-*.whl (the package with the web app's files and the nstyle command)
#   make platform PYTHON=python3.13   the wheel in a fresh .venv-3.13, then the tests marked
#               platform there (.ci/run runs it on each supported Python but python3)
PYTHON ?= python3
VENV ?= .venv
GPU_VENV ?= .venv-gpu
BENCH_VENV ?= .venv-bench
PY := $(VENV)/bin/python
PIP = -m pip install -q --disable-pip-version-check
ARGS ?=

.PHONY: run test lint serve chromium samples gpu bench wheel platform clean

# CPython 3.11 to 3.13 (requires-python in pyproject.toml). The environment is remade from
# scratch when it was made with another Python than $(PYTHON).
SUPPORTED = 3.11 3.12 3.13
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
CHECK_PYTHON = @case " $(SUPPORTED) " in *" $(PY_VERSION) "*) ;; *) echo "make: nstyle needs \
	Python 3.11, 3.12 or 3.13, and PYTHON=$(PYTHON) is $(or $(PY_VERSION),not found); set \
	PYTHON=python3.12 (or the path of one)" >&2; exit 2;; esac
# numpy 1.26.4, the newest MXNet 1.9.1 accepts, has no wheel for 3.13: pip builds it there.
CHECK_BUILD = @if [ "$(PY_VERSION)" = 3.13 ] && ! { command -v cc >/dev/null && $(PYTHON) -c \
	'import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_path("include") \
	+ "/Python.h"))'; }; then echo "make: on Python 3.13 pip builds numpy 1.26.4 from source \
	(no wheel for 3.13; MXNet needs numpy<2), which needs a C compiler and Python's headers \
	(Debian: apt-get install gcc python3-dev)" >&2; exit 2; fi
# `python -m venv`, with --clear where the folder holds another Python's environment.
MAKE_VENV = $(PYTHON) -m venv $(if $(filter-out $(PY_VERSION),$(shell $(1)/bin/python -c \
	'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)),--clear) $(1)

# The package is installed in editable mode, its pinned dependencies from the requirements
# files (pyproject.toml lists the same pins; a test keeps them equal). The stamp names the
# Python, so PYTHON=python3.13 remakes an environment made with 3.11.
INSTALLED = $(VENV)/.installed-$(PY_VERSION)
$(INSTALLED): requirements.txt requirements-common.txt requirements-test.txt pyproject.toml
	$(CHECK_PYTHON)
	$(CHECK_BUILD)
	$(call MAKE_VENV,$(VENV))
	$(PY) $(PIP) -r requirements-test.txt
	$(PY) $(PIP) --no-deps -e .
	touch $@

run: $(INSTALLED)
	$(PY) run.py $(ARGS)

test: $(INSTALLED) chromium
	$(PY) -m pytest $(ARGS)

serve: $(INSTALLED)
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

lint: $(INSTALLED)
	$(PY) -m ruff check nstyle bench tests docs input run.py model_vgg19.py
	$(PY) -m ruff format --check nstyle bench tests docs input run.py model_vgg19.py
	$(PY) -m mypy
	$(PY) docs/make_flag_table.py --check

gpu: $(GPU_VENV)/.installed-$(PY_VERSION)

$(GPU_VENV)/.installed-$(PY_VERSION): requirements-gpu.txt requirements-common.txt pyproject.toml
	$(CHECK_PYTHON)
	$(CHECK_BUILD)
	$(call MAKE_VENV,$(GPU_VENV))
	$(GPU_VENV)/bin/python $(PIP) -r requirements-gpu.txt
	$(GPU_VENV)/bin/python $(PIP) --no-deps -e .
	touch $@

$(BENCH_VENV)/.installed-$(PY_VERSION): bench/requirements.txt
	$(CHECK_PYTHON)
	$(call MAKE_VENV,$(BENCH_VENV))
	$(BENCH_VENV)/bin/python $(PIP) -r bench/requirements.txt
	touch $@

bench: $(INSTALLED) $(BENCH_VENV)/.installed-$(PY_VERSION)
	$(PY) -m bench.compare --peer-python $(BENCH_VENV)/bin/python $(ARGS)

# The wheel is built from a clean tree (setuptools' build/ keeps files of earlier builds).
wheel: $(INSTALLED)
	rm -rf build dist
	$(PY) -m pip wheel -q --no-deps -w dist .

# A fresh environment made from the project's own files as a user on that Python makes it:
# the wheel and its pinned dependencies; then the tests a platform change breaks first.
# --no-compile: the install took 38 s here without byte-compiling every file, 174 s with it;
# Python compiles what the tests import anyway.
PLATFORM_VENV = .venv-$(PY_VERSION)
platform:
	$(CHECK_PYTHON)
	$(CHECK_BUILD)
	rm -rf $(PLATFORM_VENV) build dist
	$(PYTHON) -m venv $(PLATFORM_VENV)
	$(PLATFORM_VENV)/bin/python -m pip wheel -q --no-deps -w dist .
	$(PLATFORM_VENV)/bin/python $(PIP) --no-compile -r requirements-test.txt \
		dist/nstyle-*-py3-none-any.whl
	$(PLATFORM_VENV)/bin/python -m pytest -m platform $(ARGS)

samples: $(INSTALLED)
	$(PY) input/make_samples.py

clean:
	rm -rf $(VENV) $(GPU_VENV) $(BENCH_VENV) .venv-3.* build dist output/*.jpg
