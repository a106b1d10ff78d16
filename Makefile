# `make test` and `make demo` work on a fresh clone: they create .venv, install the
# package with its extras (building labelmap/_core.pyx) and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow test-all lint demo bench compare startup-bench big slide-bench preview-bench big-slide batch-bench clean tools

$(STAMP): pyproject.toml setup.py labelmap/_core.pyx labelmap/_tiles.pxi labelmap/_rle.pxi labelmap/_walk.pxi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=77'
	# compat mode: a .pth path entry instead of setuptools' import-hook finder, which costs every
	# process start ~15 ms; a setuptools without the (transitional) mode gets the default install
	$(BIN)/python -m pip install --quiet -e '.[test,batch]' --config-settings editable_mode=compat 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet -e '.[test,batch]'
	# an editable install writes no bytecode; compile it once, as a wheel install does
	$(BIN)/python -m compileall -q labelmap
	touch $(STAMP)

# Optional: Debian's dicom3tools (dciodvfy) lets the IOD-validation tests run; they skip without it.
tools:
	@command -v dciodvfy >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q dicom3tools >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -q dicom3tools >/dev/null 2>&1)) || \
	    echo "note: could not install dicom3tools; dciodvfy tests will be skipped"; \
	  else echo "note: dciodvfy not found; dciodvfy tests will be skipped"; fi; }

# ruff (lint + format), mypy, cython-lint and the import-layer contract (pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check labelmap tests benchmarks
	$(BIN)/ruff format --check labelmap tests benchmarks
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/cython-lint labelmap/_core.pyx labelmap/_tiles.pxi labelmap/_rle.pxi labelmap/_walk.pxi  # it runs pycodestyle from PATH
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(STAMP) tools lint
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

test-all: $(STAMP) tools lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/labelmap-convert demo --output-dir demo-output

# asv suite on this checkout in the project venv (LABELMAP_BENCH_SMALL=1 skips 512x512x300)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet 'asv>=0.6'
	$(BIN)/asv machine --yes >/dev/null
	$(BIN)/asv run --python=same --quick --show-stderr

compare: $(STAMP)
	$(BIN)/python benchmarks/compare.py

# where a command's fixed cost goes (interpreter, site, numpy, typer, our modules, work) on 256x256x120
startup-bench: $(STAMP)
	$(BIN)/python benchmarks/startup.py

# 1024x1024x600, 200 labels: peak memory of write and read against the label volume (about 2 GB of disk)
big: $(STAMP)
	$(BIN)/python benchmarks/big.py

# 20,000 x 20,000 slide: LABELMAP TILED_FULL RLE write and read against highdicom (about 0.5 GB of disk)
# labelmap-convert preview on the reference case, against seg2itk of the same SEG in the same run
preview-bench: $(STAMP)
	$(BIN)/python benchmarks/preview.py

slide-bench: $(STAMP)
	$(BIN)/python benchmarks/slide.py

# 100,000 x 80,000 uint16 slide -> LABELMAP SEG -> OME-TIFF, checked band by band (about 0.9 GB of disk in
# $$LABELMAP_SLIDE_DATA, default benchmarks/.data; the label TIFF is generated once, 1-2 minutes)
big-slide: $(STAMP)
	$(BIN)/python benchmarks/big_slide.py

# issue #13: 50 small (128x128x40) and 12 reference (512x512x300) cases through `batch`, a loop of our CLI and
# loops of dcmqi (pip script and executable), then a 126,000-row manifest planned with --dry-run (about 2 GB
# of disk in $$LABELMAP_BATCH_DATA, default benchmarks/.data/batch; the collections are generated once, ~1 min)
batch-bench: $(STAMP)
	$(BIN)/python benchmarks/batch.py

clean:
	rm -rf build $(VENV) labelmap/_core.c labelmap/*.so demo-output
