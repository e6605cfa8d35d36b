"""Closed forms, derived in the chapters with SymPy and checked there by Monte Carlo.

Conventions (``shared/DESIGN.md``): x ~ N(0, I_d), w ~ N(0, psi2 I_d) with
``psi2 = 1`` unless given, label-noise variance ``sigma2``. Risks are parameter
errors E||w_hat - w||^2; the prediction risk on a fresh query adds ``sigma2``.
Each submodule holds the closed forms of one chapter; all are re-exported here.
"""

from icl.theory.one_step import (
    one_step_risk,
    optimal_one_step_risk,
    optimal_preconditioner,
    optimal_step,
    preconditioned_risk,
)

__all__ = [
    "one_step_risk",
    "optimal_one_step_risk",
    "optimal_preconditioner",
    "optimal_step",
    "preconditioned_risk",
]
