"""Closed forms, derived in the chapters with SymPy and checked there by Monte Carlo.

Conventions (``shared/DESIGN.md``): x ~ N(0, I_d), w ~ N(0, psi2 I_d) with
``psi2 = 1`` unless given, label-noise variance ``sigma2``. Risks are parameter
errors E||w_hat - w||^2; the prediction risk on a fresh query adds ``sigma2``.
Each submodule holds the closed forms of one chapter; all are re-exported here.
"""

from icl.theory.gradient_descent import (
    bayes_ridge_penalty,
    gd_filter,
    gd_risk_given_spectrum,
    gd_risk_given_X,
    least_squares_risk,
    ridge_gd_iterate,
)
from icl.theory.noisy_chains import (
    averaged_chain_risk,
    chain_covariance,
    chain_mean,
    chain_risk_terms,
    gaussian_fourth_moment,
    stationary_chain_covariance,
)
from icl.theory.one_step import (
    one_step_risk,
    optimal_one_step_risk,
    optimal_preconditioner,
    optimal_step,
    preconditioned_risk,
)

__all__ = [
    "averaged_chain_risk",
    "bayes_ridge_penalty",
    "chain_covariance",
    "chain_mean",
    "chain_risk_terms",
    "gaussian_fourth_moment",
    "gd_filter",
    "gd_risk_given_X",
    "gd_risk_given_spectrum",
    "least_squares_risk",
    "one_step_risk",
    "optimal_one_step_risk",
    "optimal_preconditioner",
    "optimal_step",
    "preconditioned_risk",
    "ridge_gd_iterate",
    "stationary_chain_covariance",
]
