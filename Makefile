# The two commands the README opens with: `make demo` (set up + the Space on the default model) and `make test`.
# Both set up .venv on a fresh machine and are safe to run again.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RAW ?= ../shared/data/google-patents-ai/scraped
DATASET := hub/datasets/patent-cpc-ai
STAMP := $(VENV)/.installed
# what the Space on the default model needs, nothing more (no torch, no fastai): `make demo` on a fresh machine
SPACE_STAMP := $(VENV)/.installed-space
BROWSER_TESTS := tests/integration/test_space.py tests/integration/test_webapp.py

.PHONY: venv demo space dataset refresh test test-unit lint browser clean

venv: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel setuptools
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[train,export,space,serve,scale,data,dev]'
	$(BIN)/pip install -q -c constraints.txt --no-deps fastai==2.8.12
	$(BIN)/pip uninstall -q -y torchvision 2>/dev/null || true
	touch $(STAMP) $(SPACE_STAMP)

$(SPACE_STAMP): setup.cfg setup.py pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel setuptools
	$(BIN)/pip install -q -c constraints.txt -e '.[space]'
	touch $(SPACE_STAMP)

demo: space

space: $(SPACE_STAMP)
	$(BIN)/cpc space

dataset: venv
	$(BIN)/cpc data build --raw $(RAW) --out $(DATASET)

# the corpus' 20 queries (cpc_dataset/queries.py) searched again on Google Patents, new pages scraped, the dataset
# rebuilt; resumable (run it again after a stop) and incremental (a later run fetches only new patents)
# Into its own folder: the tracked dataset is built from the shared scrape (make dataset), and a first or partly
# failed refresh holds only the pages fetched so far; point CPC_DATASET (or --data) at it once it is complete.
REFRESH_RAW ?= raw
REFRESH_OUT ?= refreshed/patent-cpc-ai
REFRESH_RATE ?= 2
refresh: venv
	$(BIN)/cpc data refresh --out $(REFRESH_OUT) --raw $(REFRESH_RAW) --max-rate $(REFRESH_RATE)

test: venv browser lint
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Debian's chromium + chromium-driver for the browser tests: installed when run as root, else one line saying what is skipped
browser:
	@command -v chromedriver >/dev/null && test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	  else \
	    echo "note: no chromium/chromedriver: the browser tests ($(BROWSER_TESTS)) will be skipped; install: sudo apt-get install -y chromium chromium-driver"; \
	  fi; }

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) build *.egg-info
