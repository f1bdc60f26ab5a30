# The first hour: `make demo` installs what the demo needs (when needed), indexes the offline demo and
# serves the search page (it prints the address to open); `make test` installs the test tools too (when
# needed) and runs the tests. `make help` lists the targets.
#
# Overridable: make demo PORT=8600, make install PYTHON=python3.12, and
# make install TORCH_INDEX=https://download.pytorch.org/whl/cpu for PyTorch's CPU build (see README).

PYTHON ?= python3
PORT ?= 8501
VENV := .venv
# Two layers, each with its stamp, written last: a newer pyproject.toml, or a .venv without the stamp,
# installs that layer again. `make runtime` (what `make demo` needs: the project and torch) writes
# RUNTIME_STAMP; `make install` adds the test tools, the cluster extra and the parity tests' reference
# on top and writes STAMP. So a demo install followed by `make test` installs only the second layer,
# and a full install followed by `make demo` installs nothing.
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed
DEMO_PHOTOS := data/demo/photos
# As search.paths.demo_index_dir(): $RUPHOTO_DATA moves it.
DEMO_INDEX := $(if $(strip $(RUPHOTO_DATA)),$(strip $(RUPHOTO_DATA))/demo-index,data/demo-index)
# The same commands as the README's manual install, one per line (a test compares them).
TORCH := torch==2.13.0
TORCH_INDEX ?=
REFERENCE := ruclip==0.0.2

.DEFAULT_GOAL := help
.PHONY: help runtime install demo test messages

help:
	@echo "make demo     make runtime if needed, index the offline demo into $(DEMO_INDEX), serve the search page and print its address (PORT=$(PORT); open it in the browser)"
	@echo "make test     make install if needed, run the tests (.venv/bin/python -m pytest -q)"
	@echo "make runtime  create .venv, install the project and torch: all the demo and your photos need (PYTHON=$(PYTHON); TORCH_INDEX=URL)"
	@echo "make install  make runtime, then the test tools, the cluster extra (Ray) and the parity tests' reference"
	@echo "make messages after changing a message: extract the texts, update the Russian catalogue, compile it"
	@echo "make help     this list"

runtime: $(RUNTIME_STAMP)

$(RUNTIME_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: $(PYTHON) not found. Install Python 3.11 or newer, or name it: make install PYTHON=python3.12" >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); this project needs 3.11 or newer." >&2; \
		echo "Install it, then name it: make install PYTHON=python3.11 (and remove an old .venv first)." >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(TORCH)$(if $(TORCH_INDEX), --index-url $(TORCH_INDEX))
	$(VENV)/bin/pip install cython setuptools wheel
	$(VENV)/bin/pip install --no-build-isolation -e .
	@touch $(RUNTIME_STAMP)

install: $(STAMP)

# The project again with its extras: pip adds them to the editable install (a few seconds).
$(STAMP): $(RUNTIME_STAMP)
	$(VENV)/bin/pip install --no-build-isolation -e ".[dev,cluster,ocr]"
	$(VENV)/bin/pip install --no-deps $(REFERENCE)
	@touch $(STAMP)

# The build runs every time: an unchanged demo is checked in a fraction of a second, and a changed
# one (a new release of the photos) is brought up to date.
demo: runtime
	$(VENV)/bin/python -m indexer build $(DEMO_PHOTOS) --index $(DEMO_INDEX) --model demo
	@echo "The search page: http://localhost:$(PORT) (Ctrl-C stops it)"
	$(VENV)/bin/python -m ui --index $(DEMO_INDEX) --port $(PORT)

test: install
	$(VENV)/bin/python -m pytest -q

# The terminal's messages (search/i18n.py): every _()/ngettext()/N_() text of the packages, and the
# running Python's argparse texts (search.i18n routes them to our catalogue), into the Russian
# catalogue; new entries come untranslated (tests/test_messages.py fails until each has its Russian),
# gone ones are dropped, then the .mo is compiled. Both are committed: running needs no tool.
LOCALE := search/locale
POT := $(LOCALE)/ruphoto.pot
messages:
	@test -x $(VENV)/bin/pybabel || { echo "error: no pybabel in $(VENV): make install first (Babel is in the dev extra)" >&2; exit 1; }
	$(VENV)/bin/pybabel extract --no-location --sort-output --project=ruphoto-search --version=0.1.0 -o $(POT) \
		--ignore-dirs='demo_model __pycache__' search indexer training ui ruphoto \
		$$($(VENV)/bin/python -c 'import argparse; print(argparse.__file__)')
	$(VENV)/bin/pybabel update -i $(POT) -d $(LOCALE) -D ruphoto -l ru --no-fuzzy-matching --ignore-obsolete
	$(VENV)/bin/pybabel compile -d $(LOCALE) -D ruphoto --statistics
	@rm -f $(POT)
