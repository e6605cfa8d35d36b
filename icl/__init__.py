"""Companion code to 'Towards Theoretical Understanding of Transformer Test-Time Computing'
(arXiv 2508.07571): in-context linear regression, decoding by noise injection and sampling, and the
test-time techniques built on it.

The package follows the pipeline of a chapter: a task is sampled, a model reads it, a decoder
produces answers, a technique aggregates them, and the theory predicts the result.

- :mod:`icl.tasks`: priors on w and prompts (X, y, query), a fixed task for every prompt;
- :mod:`icl.models`: the models that read a prompt, sharing one training loop
  (:mod:`icl.models.training`): :mod:`icl.models.linear_attention` (Chapter 1),
  :mod:`icl.models.thought_transformer` (Chapter 2), :mod:`icl.models.softmax_transformer`
  (Chapter 7);
- :mod:`icl.decoders`: how answers come out: :mod:`icl.decoders.gd_chains` (chains of GD thoughts,
  greedy or with noise injection), :mod:`icl.decoders.sparse_chains` (sparse binary chains),
  :mod:`icl.decoders.coefficient_sampler` (the softmax model at a temperature),
  :mod:`icl.decoders.answer_distribution` (exact answer distributions over {-1, +1}^d);
- :mod:`icl.techniques`: averaging, votes, best-of-N (a verifier's score: lower is better), pass@k,
  and exact accuracies given an answer distribution;
- :mod:`icl.theory`: the closed forms, one module per chapter (:mod:`icl.theory.one_step`,
  :mod:`icl.theory.gradient_descent`, :mod:`icl.theory.wishart`, :mod:`icl.theory.noisy_chains`,
  :mod:`icl.theory.best_of_n`, :mod:`icl.theory.binary_decoding`, :mod:`icl.theory.sparse_chains`,
  :mod:`icl.theory.budget`),
  all re-exported from :mod:`icl.theory`;
- :mod:`icl.experiments`: experiments shared by the chapters, the scripts and the benchmark
  (Chapter 6's sparse vote);
- :mod:`icl.harness`: the book's machinery: :mod:`icl.harness.runtime` (device, dtype, scale,
  seeds, timer), :mod:`icl.harness.montecarlo` (estimates with standard errors),
  :mod:`icl.harness.claims` (recorded checks and measurements), :mod:`icl.harness.report` (the
  generated appendices), :mod:`icl.harness.bench` (the benchmark),
  :mod:`icl.harness.chapter_runner` (the chapters without Jupyter: the GPU run);
- :mod:`icl.explorers`: the chapters' live explorers, sliders that redraw the exact curves of
  :mod:`icl.theory` (Chapters 1, 3 and 5; ``ipywidgets``);
- :mod:`icl.domain`: where each public numerical function answers and how accurately, one
  declaration per function that validates its calls and documents them;
- :mod:`icl.validation`: the argument checks every module uses.

The subpackages and modules are imported on first use (``icl.tasks``, or ``from icl import
tasks``), so that ``python -m icl.models.softmax_transformer`` and ``python -m icl.harness.bench``
run their module once.
"""

import importlib

__all__ = [
    "decoders",
    "domain",
    "experiments",
    "explorers",
    "harness",
    "models",
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
