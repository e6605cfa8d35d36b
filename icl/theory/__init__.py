"""Closed forms, derived in the chapters with SymPy and checked there by Monte Carlo.

Conventions (``shared/DESIGN.md``): x ~ N(0, I_d), w ~ N(0, psi2 I_d) with
``psi2 = 1`` unless given, label-noise variance ``sigma2``. Risks are parameter
errors E||w_hat - w||^2; the prediction risk on a fresh query adds ``sigma2``.
Each submodule holds the closed forms of one chapter; all are re-exported here.
"""

from icl.theory.best_of_n import (
    best_of_n_risk_1d,
    best_of_n_risk_1d_averaged,
    expected_min_gaussian,
    expected_min_sq_offset,
    expected_nearest_offset,
    gaussian_selection_risk,
    in_context_limit_risk,
    min_norm_risk,
    nearest_sample_asymptote,
    norm_reward_risk,
    norm_reward_shrinkage,
    oracle_best_of_n_risk,
    oracle_gaussian_risk,
    oracle_optimal_risk,
    oracle_optimal_temperature,
)
from icl.theory.binary_decoding import (
    greedy_sign_error,
    majority_vote_accuracy,
    margin_density,
    pass_at_k,
    plurality_vote_accuracy,
    sampled_sign_error,
    subsample_vote_accuracy,
    vote_sign_accuracy,
)
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
from icl.theory.sparse_chains import draw_set_probability, step_weights

__all__ = [
    "averaged_chain_risk",
    "bayes_ridge_penalty",
    "best_of_n_risk_1d",
    "best_of_n_risk_1d_averaged",
    "chain_covariance",
    "chain_mean",
    "chain_risk_terms",
    "draw_set_probability",
    "expected_min_gaussian",
    "expected_min_sq_offset",
    "expected_nearest_offset",
    "gaussian_fourth_moment",
    "gaussian_selection_risk",
    "gd_filter",
    "gd_risk_given_X",
    "gd_risk_given_spectrum",
    "greedy_sign_error",
    "in_context_limit_risk",
    "least_squares_risk",
    "majority_vote_accuracy",
    "margin_density",
    "min_norm_risk",
    "nearest_sample_asymptote",
    "norm_reward_risk",
    "norm_reward_shrinkage",
    "one_step_risk",
    "optimal_one_step_risk",
    "optimal_preconditioner",
    "optimal_step",
    "oracle_best_of_n_risk",
    "oracle_gaussian_risk",
    "oracle_optimal_risk",
    "oracle_optimal_temperature",
    "pass_at_k",
    "plurality_vote_accuracy",
    "preconditioned_risk",
    "ridge_gd_iterate",
    "sampled_sign_error",
    "stationary_chain_covariance",
    "step_weights",
    "subsample_vote_accuracy",
    "vote_sign_accuracy",
]
