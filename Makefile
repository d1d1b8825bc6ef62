# Two commands on a fresh machine (Python 3.11 or older with venv):
#   make run    set up, then paint input/content.jpg in the style of input/style.jpg
#   make test   set up, then run the tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test samples clean

$(VENV)/.installed: requirements.txt requirements-test.txt
	@$(PYTHON) -c 'import sys; sys.exit("nstyle needs Python <= 3.11 (MXNet 1.9.1); set PYTHON=python3.11" if sys.version_info >= (3, 12) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

run: $(VENV)/.installed
	$(PY) run.py $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest

samples: $(VENV)/.installed
	$(PY) input/make_samples.py

clean:
	rm -rf $(VENV) output/*.jpg
