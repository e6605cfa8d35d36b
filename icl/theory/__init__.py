"""Closed forms, derived in the chapters with SymPy and checked there by Monte Carlo.

Conventions (``shared/DESIGN.md``): x ~ N(0, I_d), w ~ N(0, psi2 I_d) with
``psi2 = 1`` unless given, label-noise variance ``sigma2``. Risks are parameter
errors E||w_hat - w||^2; the prediction risk on a fresh query adds ``sigma2``.
Each submodule holds the closed forms of one chapter; all are re-exported here.
"""

from icl.theory.best_of_n import (
    best_of_n_risk_1d,
    expected_min_gaussian,
    expected_min_sq_offset,
    expected_nearest_offset,
    gaussian_selection_risk,
    in_context_limit_risk,
    least_squares_risk,
    min_norm_risk,
    nearest_sample_asymptote,
    oracle_best_of_n_risk,
    oracle_gaussian_risk,
    oracle_optimal_risk,
    oracle_optimal_temperature,
)
from icl.theory.one_step import (
    one_step_risk,
    optimal_one_step_risk,
    optimal_preconditioner,
    optimal_step,
    preconditioned_risk,
)

__all__ = [
    "best_of_n_risk_1d",
    "expected_min_gaussian",
    "expected_min_sq_offset",
    "expected_nearest_offset",
    "gaussian_selection_risk",
    "in_context_limit_risk",
    "least_squares_risk",
    "min_norm_risk",
    "nearest_sample_asymptote",
    "one_step_risk",
    "optimal_one_step_risk",
    "optimal_preconditioner",
    "optimal_step",
    "oracle_best_of_n_risk",
    "oracle_gaussian_risk",
    "oracle_optimal_risk",
    "oracle_optimal_temperature",
    "preconditioned_risk",
]
