# The two commands the README opens with: `make demo` (set up + the Space on the default model) and `make test`.
# Both set up .venv on a fresh machine and are safe to run again.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RAW ?= ../shared/data/google-patents-ai/scraped
DATASET := hub/datasets/patent-cpc-ai
STAMP := $(VENV)/.installed

.PHONY: venv demo space dataset test test-unit clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel setuptools
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[train,export,space,serve,scale,dev]'
	$(BIN)/pip install -q -c constraints.txt --no-deps fastai==2.8.12
	$(BIN)/pip uninstall -q -y torchvision 2>/dev/null || true
	touch $(STAMP)

demo: space

space: venv
	$(BIN)/cpc space --model hub/models/cpc-default

dataset: venv
	$(BIN)/cpc data build --raw $(RAW) --out $(DATASET)

test: venv
	$(BIN)/python -m pytest -q

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) build *.egg-info
