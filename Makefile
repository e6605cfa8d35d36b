# `make book` builds the HTML book into _build/html; `make pdf` prints it, as one page, to
# _build/pdf/book.pdf; `make test` runs the unit tests and every chapter under nbval, builds the
# book and its PDF where needed and tests the built pages and the PDF; `make lab` starts
# JupyterLab on the repository; `make lint` checks the style (ruff, the chapters' code cells
# included) and `make format` applies it. Each sets up .venv first.
# `make gpu-check` runs every chapter at full scale without Jupyter (icl.harness.chapter_runner)
# with the Python at hand (.venv's if present, else python3) and publishes the summary to
# book/data/gpu_run.json (results in _build/gpu_run, or GPU_OUT); `make gpu-check-ci` runs the
# same command on the CPU at ICL_SCALE=smoke in float32 on three chapters; `make cpu-full-check`
# runs every chapter at full scale on the CPU and publishes book/data/cpu_full_run.json.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book pdf test lab lint format clean gpu-check gpu-check-ci cpu-full-check wheelhouse

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

# The build reads executed chapters from jupyter-cache (execute_notebooks: cache), whose key is
# the code cells only: the cache is cleared when icl/, book/data/ or requirements.txt change, or
# ICL_SCALE, ICL_DTYPE, ICL_DEVICE differ from the last build's (named in the stamp).
CACHE := _build/.jupyter_cache
CACHE_INPUTS := $(shell find icl book/data -type f -not -name '*.pyc' 2>/dev/null) requirements.txt
CACHE_STAMP := _build/.cache-$(strip $(ICL_SCALE))-$(strip $(ICL_DTYPE))-$(strip $(ICL_DEVICE))

$(CACHE_STAMP): $(CACHE_INPUTS)
	rm -rf $(CACHE) _build/.cache-*
	mkdir -p _build && touch $@

# Kernels run on one thread each, two at a time (jcache's pool, pytest's workers).
book pdf test gpu-check-ci: export OMP_NUM_THREADS = 1

# `make book` first executes the chapters whose code is not in the cache with jupyter-cache's
# local-parallel executor (one process per core), then builds; the build takes them from the
# cache, executes the claims and status pages, and fails on any error. It rebuilds only when a
# source or the settings changed. (jcache asks before creating a cache: hence the mkdir.)
BOOK_STAMP := _build/.book_built
BOOK_INPUTS := $(shell find book icl _ext _static -type f -not -name '*.pyc' 2>/dev/null) \
	_config.yml _toc.yml references.bib requirements.txt
BOOK_CHAPTERS := $(wildcard book/ch*.md)

book: $(BOOK_STAMP)

$(BOOK_STAMP): $(STAMP) $(CACHE_STAMP) $(BOOK_INPUTS)
	mkdir -p $(CACHE)
	$(BIN)/jcache notebook -p $(CACHE) add --reader myst_nb_md $(BOOK_CHAPTERS)
	$(BIN)/jcache project -p $(CACHE) execute --executor local-parallel --timeout 600
	$(BIN)/jupyter-book build . --all -W --keep-going
	touch $@

# `make pdf` builds the single-page HTML from the same cache (the chapters are not executed
# again) and prints it with headless Chromium once MathJax has typeset it (scripts/print_pdf.py).
# Sphinx writes the page at the root document's path, book/intro.html, with links relative to
# _build/singlehtml: it is printed from a copy there, index.html.
SINGLEHTML := _build/singlehtml
PDF := _build/pdf/book.pdf

pdf: $(PDF)

$(PDF): $(BOOK_STAMP) scripts/print_pdf.py tests/browser.py
	$(BIN)/jupyter-book build . --builder singlehtml -W --keep-going
	cp $(SINGLEHTML)/book/intro.html $(SINGLEHTML)/index.html
	$(BIN)/python scripts/print_pdf.py $(SINGLEHTML)/index.html $@

# `make test`: the unit tests and every chapter under nbval (their records in _build/nbval_claims,
# apart from the build's), then the book and its PDF where needed (the PDF where Chromium and its
# driver are installed; the tests that need them skip without), then the tests of the built HTML
# and the PDF.
BUILT_BOOK_TESTS = $(shell grep -rl --include='*.py' 'mark.built_book' tests)
PRINTER := $(if $(and $(shell which chromium chromium-browser google-chrome 2>/dev/null),$(shell which chromedriver 2>/dev/null)),pdf)

test: $(STAMP)
	ICL_CLAIMS_DIR=$(CURDIR)/_build/nbval_claims \
		$(BIN)/python -m pytest --nbval -m "not built_book" $(PYTEST_WORKERS)
	$(MAKE) --no-print-directory book $(PRINTER)
	$(BIN)/python -m pytest -m built_book -n 2 --dist load $(BUILT_BOOK_TESTS)

# The GPU machine has Python and torch but no Jupyter stack: `make wheelhouse` downloads jupytext
# and IPython with their dependencies as wheels for it (Python 3.12, x86-64 Linux) into
# _build/wheelhouse, which travels there with the sources; `make gpu-check` installs them into
# _build/gpu_site when the Python at hand lacks them.
WHEELHOUSE := _build/wheelhouse
GPU_SITE := _build/gpu_site

wheelhouse: $(STAMP)
	$(BIN)/python -m pip download --quiet --only-binary=:all: --python-version 3.12 \
		--platform manylinux_2_17_x86_64 --dest $(WHEELHOUSE) \
		$$($(BIN)/python -m pip freeze | grep -iE '^(jupytext|ipython)==')

gpu-check:
	$(RUN_PYTHON) -c "import jupytext, IPython" 2>/dev/null || $(RUN_PYTHON) -m pip install --quiet \
		--no-index --find-links $(WHEELHOUSE) --target $(GPU_SITE) jupytext ipython
	PYTHONPATH=$(CURDIR)/$(GPU_SITE)$${PYTHONPATH:+:$$PYTHONPATH} \
		ICL_SCALE=$(GPU_SCALE) $(RUN_PYTHON) -m icl.harness.chapter_runner $(if $(GPU_OUT),--out $(GPU_OUT)) \
		$(if $(RUN_CHAPTERS),--chapters $(RUN_CHAPTERS)) $(if $(filter full,$(GPU_SCALE)),--publish)

# The full-scale run on the CPU (hours on two cores): float64, two chapters at a time on one
# thread each, each allowed CPU_FULL_BUDGET seconds; Chapter 7 runs its full-scale Monte Carlo
# around its smoke-scale model (training the full-scale model takes tens of hours on a CPU).
CPU_FULL_BUDGET ?= 10800

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
	$(BIN)/ruff check --line-length 88 _build/lint
	$(BIN)/ruff format --check --line-length 88 _build/lint
	$(BIN)/python scripts/chapter_lint.py $(CHAPTERS)

format: $(STAMP)
	$(BIN)/ruff format $(PYTHON_SOURCES)
	for f in $(CHAPTERS); do $(BIN)/jupytext --quiet --pipe "$(BIN)/ruff format --line-length 88 -" $$f; done

clean:
	rm -rf _build
