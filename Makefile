# `make book` builds the HTML book; `make test` runs every test and builds the book where needed; `make lab` starts
# JupyterLab on the repository (the chapters' .md sources open as notebooks); `make lint` checks the
# code style (ruff, the chapters' code cells included) and `make format` applies it. All set up .venv first.
# `make gpu-check` runs every chapter at full scale without Jupyter (icl.harness.chapter_runner) with the
# Python at hand (.venv's if present, else python3: the GPU machine has no .venv) and publishes the
# summary to book/data/gpu_run.json (results in _build/gpu_run, or GPU_OUT); `make gpu-check-ci` is
# CI's: the same command on the CPU at ICL_SCALE=smoke in float32, on three chapters. `make
# cpu-full-check` runs every chapter at full scale on the CPU and publishes book/data/cpu_full_run.json.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test lab lint format clean gpu-check gpu-check-ci cpu-full-check

RUN_PYTHON := $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_SCALE ?= full
RUN_CHAPTERS ?=
GPU_OUT ?=
PYTEST_WORKERS ?= -n 2 --dist loadscope

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The build caches executed chapters (jupyter-cache, keyed on their code cells); what they import or
# read is not in that key, nor the settings they run with, so the cache is cleared whenever icl/,
# book/data/ or requirements.txt change or ICL_SCALE, ICL_DTYPE or ICL_DEVICE differ from the last
# build's (recorded in the name of a stamp file, _build/.settings-<scale>-<dtype>-<device>, which
# exists for the last settings only).
CACHE_INPUTS := $(shell find icl book/data -type f -not -name '*.pyc' 2>/dev/null) requirements.txt
CACHE_STAMP := _build/.cache_inputs
SETTINGS_STAMP := _build/.settings-$(strip $(ICL_SCALE))-$(strip $(ICL_DTYPE))-$(strip $(ICL_DEVICE))

$(SETTINGS_STAMP):
	rm -f _build/.settings-*
	mkdir -p _build && touch $@

# nbval's executed chapters, which the build takes instead of executing them again
# (_ext/parallel_execution.py); cleared with the cache.
NBVAL_NOTEBOOKS := _build/nbval_notebooks
# the book's stamp, named here: the target-specific exports below expand it as they are read
BOOK_STAMP := _build/.book_built

$(CACHE_STAMP): $(CACHE_INPUTS) $(SETTINGS_STAMP)
	rm -rf _build/.jupyter_cache $(NBVAL_NOTEBOOKS)
	mkdir -p _build && touch $@

# Two processes at a time (the build's pool of chapters, pytest's workers) on one thread each:
# two kernels sharing two cores, each asking for two threads, run about three times slower.
$(BOOK_STAMP) test gpu-check-ci: export OMP_NUM_THREADS = 1
$(BOOK_STAMP) test: export ICL_NBVAL_NOTEBOOKS = $(CURDIR)/$(NBVAL_NOTEBOOKS)

# `make book` builds when a source changed since its last successful build (the chapters and pages,
# the package, the extensions, the configuration) or the settings above changed: `make test` right
# after it does not build again.
BOOK_INPUTS := $(shell find book icl _ext -type f -not -name '*.pyc' 2>/dev/null) \
	_config.yml _toc.yml references.bib requirements.txt

book: $(BOOK_STAMP)

$(BOOK_STAMP): $(STAMP) $(CACHE_STAMP) $(BOOK_INPUTS)
	$(BIN)/jupyter-book build . --all -W --keep-going
	touch $@

# First nbval executes every chapter afresh (the test) beside the unit tests, its records beside
# the build's, not over them; then the book is built where needed, taking each chapter that changed
# from that run rather than executing it again; last, the tests of the built HTML (marker
# built_book), on two workers (in the first session, beside the chapters, they ran slower), collected
# from the files that use the marker only (each worker imports what it collects).
BUILT_BOOK_TESTS = $(shell grep -rl --include='*.py' 'mark.built_book' tests)

test: $(STAMP) $(CACHE_STAMP)
	rm -rf $(NBVAL_NOTEBOOKS)
	ICL_CLAIMS_DIR=$(CURDIR)/_build/nbval_claims \
		$(BIN)/python -m pytest --nbval -m "not built_book" $(PYTEST_WORKERS)
	$(MAKE) --no-print-directory book
	$(BIN)/python -m pytest -m built_book -n 2 --dist load $(BUILT_BOOK_TESTS)

gpu-check:
	ICL_SCALE=$(GPU_SCALE) $(RUN_PYTHON) -m icl.harness.chapter_runner $(if $(GPU_OUT),--out $(GPU_OUT)) \
		$(if $(RUN_CHAPTERS),--chapters $(RUN_CHAPTERS)) $(if $(filter full,$(GPU_SCALE)),--publish)

# The full-scale run on the CPU (hours on two cores): float64, two chapters at a time on one
# thread each, each chapter allowed
# CPU_FULL_BUDGET seconds, Chapter 7's full-scale Monte Carlo around its smoke-scale model
# (training the full model takes tens of hours here); it publishes book/data/cpu_full_run.json.
CPU_FULL_BUDGET ?= 7200

cpu-full-check: export OMP_NUM_THREADS = 1
cpu-full-check: $(STAMP)
	ICL_DEVICE=cpu ICL_DTYPE=float64 ICL_SCALE=full ICL_MODEL_SCALE=smoke \
		$(BIN)/python -m icl.harness.chapter_runner \
		--out _build/cpu_full_run --budget $(CPU_FULL_BUDGET) --jobs 2 --publish $(if $(RUN_CHAPTERS),--chapters $(RUN_CHAPTERS))

gpu-check-ci: $(STAMP)
	ICL_DTYPE=float32 $(MAKE) gpu-check GPU_SCALE=smoke RUN_CHAPTERS="ch01 ch02 ch06" GPU_OUT=_build/gpu_run_ci

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
