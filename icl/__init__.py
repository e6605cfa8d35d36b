"""Companion code to 'Towards Theoretical Understanding of Transformer Test-Time Computing'
(arXiv 2508.07571): in-context linear regression, decoding by noise injection and sampling, and the
test-time techniques built on it.

The package follows the pipeline of a chapter: a task is sampled, a model reads it, a decoder
produces answers, a technique aggregates them, and the theory predicts the result. Its modules are
layered, each importing only from the layers below it (``tests/test_package.py`` checks it):

1. foundations: :mod:`icl.validation` (the argument checks every module uses), :mod:`icl.domain`
   (where each public numerical function answers and how accurately, one declaration per
   function that validates its calls and documents them), :mod:`icl.runtime` (device, dtype,
   scale, seeded generators, a timer, the book's root folder);
2. :mod:`icl.tasks`: priors on w and prompts (X, y, query), a fixed task for every prompt;
   :mod:`icl.theory`: the closed forms, one module per chapter (:mod:`icl.theory.one_step`,
   :mod:`icl.theory.gradient_descent`, :mod:`icl.theory.wishart`, :mod:`icl.theory.noisy_chains`,
   :mod:`icl.theory.best_of_n`, :mod:`icl.theory.binary_decoding`,
   :mod:`icl.theory.sparse_chains`, :mod:`icl.theory.budget`, :mod:`icl.theory.per_prompt`), all
   re-exported from :mod:`icl.theory`;
3. :mod:`icl.models`: the models that read a prompt, sharing one training loop
   (:mod:`icl.models.training`): :mod:`icl.models.linear_attention` (Chapter 1),
   :mod:`icl.models.thought_transformer` (Chapter 2), :mod:`icl.models.softmax_transformer`
   (Chapter 7);
4. :mod:`icl.decoders`: how answers come out of a model: :mod:`icl.decoders.gd_chains` (chains of
   GD thoughts, greedy or with noise injection), :mod:`icl.decoders.sparse_chains` (sparse binary
   chains), :mod:`icl.decoders.coefficient_sampler` (the softmax model at a temperature),
   :mod:`icl.decoders.answer_distribution` (exact answer distributions over {-1, +1}^d);
5. :mod:`icl.techniques`: averaging, votes, best-of-N (a verifier's score: lower is better),
   pass@k, and exact accuracies given an answer distribution;
6. :mod:`icl.sparse_vote`: Chapter 6's sparse-vote experiment, shared by the chapter, its script
   and the benchmark; :mod:`icl.harness`: the book's machinery (:mod:`icl.harness.montecarlo`,
   estimates with standard errors; :mod:`icl.harness.claims`, recorded checks and measurements;
   :mod:`icl.harness.report`, the generated appendices; :mod:`icl.harness.chapter_runner`, the
   chapters without Jupyter: the GPU run);
7. :mod:`icl.experiments`: each chapter's settings and experiments, the Monte Carlo runs its
   checks compare with the theory (one module per chapter: :mod:`icl.experiments.ch01`,
   :mod:`icl.experiments.ch02`, :mod:`icl.experiments.ch03`, :mod:`icl.experiments.ch04`,
   :mod:`icl.experiments.ch05`, :mod:`icl.experiments.ch06`, :mod:`icl.experiments.ch07`,
   :mod:`icl.experiments.ch08`, :mod:`icl.experiments.ch09`);
8. on top: :mod:`icl.figures` (each chapter's figures: :mod:`icl.figures.ch01`,
   :mod:`icl.figures.ch02`, :mod:`icl.figures.ch03`, :mod:`icl.figures.ch04`,
   :mod:`icl.figures.ch05`, :mod:`icl.figures.ch06`, :mod:`icl.figures.ch07`,
   :mod:`icl.figures.ch08`, :mod:`icl.figures.ch09`), :mod:`icl.bench` (the benchmark,
   ``python -m icl.bench``),
   :mod:`icl.explorers` (the chapters' live explorers, sliders that redraw the exact curves of
   :mod:`icl.theory`; ``ipywidgets``), :mod:`icl.static_explorers` (the same curves precomputed on
   grids of slider settings and drawn by Bokeh, for the static HTML book) and :mod:`icl.sweep`
   (the book's quantities over grids of settings, on Dask: ``python -m icl.sweep SPEC --out
   RESULTS.parquet``).

The subpackages and modules are imported on first use (``icl.tasks``, or ``from icl import
tasks``), so that ``python -m icl.models.softmax_transformer`` and ``python -m icl.bench``
run their module once.
"""

import importlib

__all__ = [
    "bench",
    "decoders",
    "domain",
    "experiments",
    "explorers",
    "figures",
    "harness",
    "models",
    "runtime",
    "sparse_vote",
    "static_explorers",
    "sweep",
    "tasks",
    "techniques",
    "theory",
    "validation",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
