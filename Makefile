# `make book` builds the HTML book; `make test` builds it and runs every test; `make lab` starts
# JupyterLab on the repository (the chapters' .md sources open as notebooks); `make lint` checks the
# code style (ruff, the chapters' code cells included) and `make format` applies it. All set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test lab lint format clean

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

# jupyter_config/labconfig makes jupytext's notebook view the default for .md files; JUPYTER_PATH puts
# the environment's `python3` kernel (its own Python) first; as root (containers) it needs --allow-root.
# LAB_ARGS passes options, e.g. LAB_ARGS="--no-browser --port=8890".
LAB_ARGS ?=
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter_config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	JUPYTER_PATH="$(abspath $(VENV))/share/jupyter$${JUPYTER_PATH:+:$$JUPYTER_PATH}" \
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(LAB_ROOT) $(LAB_ARGS)

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
