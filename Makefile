# `make test` and `make demo` work on a fresh clone: they create .venv, install the
# package with its extras (building labelmap/_core.pyx) and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow test-all demo bench compare clean

$(STAMP): pyproject.toml setup.py labelmap/_core.pyx
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/labelmap-convert demo --output-dir demo-output

compare: $(STAMP)
	$(BIN)/python benchmarks/compare.py

clean:
	rm -rf build $(VENV) labelmap/_core.c labelmap/*.so demo-output
