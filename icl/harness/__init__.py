"""The book's machinery, apart from the model: how a chapter runs, estimates and records.

- :mod:`icl.harness.runtime`: device, dtype, scale (``ICL_SCALE``), seeded generators, a timer,
  the book's root folder;
- :mod:`icl.harness.montecarlo`: :class:`~icl.harness.montecarlo.Estimate` (a mean with its
  standard error) and :func:`~icl.harness.montecarlo.estimate_mean` (chunked Monte Carlo);
- :mod:`icl.harness.claims`: recorded checks (``check``, ``check_paired``) and measurements
  (``measure``), one ``start_chapter`` per chapter;
- :mod:`icl.harness.report`: the generated appendices (the claims table, the run's environment);
- :mod:`icl.harness.bench`: the benchmark, ``python -m icl.harness.bench``.

``report`` and ``bench`` are imported by name; they use the rest of the package, which itself uses
``runtime``.
"""

from icl.harness import claims, montecarlo, runtime

__all__ = ["claims", "montecarlo", "runtime"]
