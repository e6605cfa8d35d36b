"""The book's machinery, apart from the model: how a chapter runs, estimates and records.

- :mod:`icl.harness.montecarlo`: :class:`~icl.harness.montecarlo.Estimate` (a mean with its
  standard error) and :func:`~icl.harness.montecarlo.estimate_mean` (chunked Monte Carlo);
- :mod:`icl.harness.claims`: recorded checks (``check``, ``check_paired``) and measurements
  (``measure``), one ``start_chapter`` per chapter;
- :mod:`icl.harness.report`: the generated appendices (the claims table, the run's environment);
- :mod:`icl.harness.chapter_runner`: the chapters run without Jupyter, each under a time budget
  (the GPU run), ``python -m icl.harness.chapter_runner``.

The modules are imported on first use (``from icl.harness import claims``).
"""

import importlib

__all__ = ["chapter_runner", "claims", "montecarlo", "report"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
