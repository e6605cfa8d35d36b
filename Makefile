# `make book` builds the HTML book; `make test` builds it and runs every test; `make lint` checks the
# code style (ruff, the chapters' code cells included) and `make format` applies it. All set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test lint format clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --all -W --keep-going

test: book
	$(BIN)/python -m pytest --nbval

PYTHON_SOURCES := icl tests scripts _ext book/conftest.py
CHAPTERS := $(shell grep -l "^kernelspec:" book/*.md)

lint: $(STAMP)
	$(BIN)/ruff check $(PYTHON_SOURCES)
	$(BIN)/ruff format --check $(PYTHON_SOURCES)
	rm -rf _build/lint && mkdir -p _build/lint
	for f in $(CHAPTERS); do $(BIN)/jupytext --quiet --to ipynb -o _build/lint/$$(basename $$f .md).ipynb $$f; done
	$(BIN)/ruff check _build/lint
	$(BIN)/ruff format --check _build/lint

format: $(STAMP)
	$(BIN)/ruff format $(PYTHON_SOURCES)
	for f in $(CHAPTERS); do $(BIN)/jupytext --quiet --pipe "$(BIN)/ruff format -" $$f; done

clean:
	rm -rf _build
