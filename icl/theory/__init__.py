"""Closed forms, derived in the chapters with SymPy and checked there by Monte Carlo.

Conventions (``shared/DESIGN.md``): x ~ N(0, I_d), w ~ N(0, psi2 I_d) with
``psi2 = 1`` unless given, label-noise variance ``sigma2``. Risks are parameter
errors E||w_hat - w||^2; the prediction risk on a fresh query adds ``sigma2``.
Each submodule holds the closed forms of one chapter; all are re-exported here.
"""

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
from icl.theory.sparse_chains import draw_set_probability, step_weights
from icl.theory.one_step import (
    one_step_risk,
    optimal_one_step_risk,
    optimal_preconditioner,
    optimal_step,
    preconditioned_risk,
)

__all__ = [
    "draw_set_probability",
    "step_weights",
    "subsample_vote_accuracy",
    "greedy_sign_error",
    "majority_vote_accuracy",
    "margin_density",
    "pass_at_k",
    "plurality_vote_accuracy",
    "sampled_sign_error",
    "vote_sign_accuracy",
    "one_step_risk",
    "optimal_one_step_risk",
    "optimal_preconditioner",
    "optimal_step",
    "preconditioned_risk",
]
