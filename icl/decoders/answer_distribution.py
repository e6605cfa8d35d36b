"""Exact answer distributions over the sign vectors {-1, +1}^d.

For a small dimension d every answer a decoder can emit, a vector v in
{-1, +1}^d, can be listed (:func:`sign_vectors`, 2^d rows). A decoder is then
described per prompt by a log-probability for every v, shape ``(B, 2^d)``:
a single sample is right with probability ``P(w)`` (:func:`probability_of`),
coefficient j with its marginal (:func:`marginals`), and the accuracy of each
technique follows exactly from the table (:mod:`icl.techniques`: pass@k,
votes, best-of-N).

Two reference distributions are given here: the Bayes posterior of the
rademacher prior (:func:`rademacher_log_posterior`) and Chapter 5's linear
decoder (:func:`linear_log_probs`), whose coefficients are independent with
``P(v_j = +1) = sigmoid(2 w_hat_j / T)``, ``w_hat = eta X^T y / n``.
Shapes: ``X (B, n, d)``, ``y (B, n)``, ``w (B, d)``.
"""

from __future__ import annotations

import torch

from icl.decoders.sparse_chains import support_codes
from icl.validation import (
    choice,
    integer,
    log_probabilities,
    positive,
    prompt_batch,
    signs,
    tensor,
)

MAX_ENUMERATED_D = 16


def sign_vectors(d: int, *, device=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All 2^d vectors of {-1, +1}^d, shape ``(2^d, d)``; row r has v_j = +1 iff bit (d-1-j) of r is
    0.

    So row 0 is all +1 and the order is that of an autoregressive tree whose
    first coefficient is the most significant bit (``+1`` before ``-1``).
    """
    d = integer("d", d)
    if d > MAX_ENUMERATED_D:
        raise ValueError(f"d must be <= {MAX_ENUMERATED_D} to enumerate {{-1, +1}}^d, got {d}")
    dtype = choice("dtype", dtype, (torch.float32, torch.float64))
    rows = torch.arange(2**d, device=device)
    bits = (rows.unsqueeze(1) >> torch.arange(d - 1, -1, -1, device=device)) & 1
    return (1 - 2 * bits).to(dtype)


def index_of(v: torch.Tensor) -> torch.Tensor:
    """The row of :func:`sign_vectors` holding each sign vector: ``v (..., d)`` -> ``(...)`` long.

    The support code (:func:`icl.decoders.sparse_chains.support_codes`) of the minus signs, read
    with the first coefficient as the most significant bit.
    """
    signs("v", v, min_ndim=1)
    return support_codes((v < 0).flip(-1))


def rademacher_log_posterior(X: torch.Tensor, y: torch.Tensor, sigma2: float) -> torch.Tensor:
    """log P(v | X, y) for the uniform prior on {-1, +1}^d: ``-||y - X v||^2 / (2 sigma2)``
    normalised; ``(B, 2^d)``."""
    prompt_batch(X, y)
    sigma2 = positive("sigma2", sigma2)
    v = sign_vectors(X.shape[2], device=X.device, dtype=X.dtype).expand(X.shape[0], -1, -1)
    residual = v @ X.transpose(1, 2) - y.unsqueeze(1)  # (B, 2^d, n)
    log_lik = -(residual**2).mean(-1) * X.shape[1] / (2 * sigma2)
    return log_lik - torch.logsumexp(log_lik, dim=1, keepdim=True)


def linear_estimate(X: torch.Tensor, y: torch.Tensor, eta: float) -> torch.Tensor:
    """Chapter 5's one-step estimate w_hat = eta X^T y / n, shape ``(B, d)``."""
    prompt_batch(X, y)
    eta = positive("eta", eta)
    return eta * torch.einsum("bnd,bn->bd", X, y) / X.shape[1]


def linear_log_probs(
    X: torch.Tensor, y: torch.Tensor, eta: float, temperature: float
) -> torch.Tensor:
    """log P_T(v) of the linear decoder: independent coefficients, logits ``+-w_hat_j / T``; ``(B,
    2^d)``.

    ``log P_T(v) = sum_j log sigmoid(2 v_j w_hat_j / T)``.
    """
    temperature = positive("temperature", temperature)
    w_hat = linear_estimate(X, y, eta)
    v = sign_vectors(X.shape[2], device=X.device, dtype=X.dtype)
    return torch.nn.functional.logsigmoid(
        2 * torch.einsum("bd,sd->bsd", w_hat, v) / temperature
    ).sum(-1)


def answer_dimension(log_probs: torch.Tensor) -> int:
    """The dimension d of a table ``log_probs (B, 2^d)`` of log-probabilities over {-1, +1}^d
    (normalised per row: ``logsumexp = 0``, :func:`icl.validation.log_probabilities`), or
    ``ValueError``/``TypeError``."""
    tensor("log_probs", log_probs, ndim=2, finite=False)
    if (
        log_probs.ndim != 2
        or log_probs.shape[1] < 2
        or log_probs.shape[1] & (log_probs.shape[1] - 1)
    ):
        raise ValueError(
            f"log_probs must be (B, 2^d) with d >= 1, got shape {tuple(log_probs.shape)}"
        )
    log_probabilities("log_probs", log_probs, dim=1)
    return log_probs.shape[1].bit_length() - 1


def marginals(log_probs: torch.Tensor) -> torch.Tensor:
    """P(v_j = +1) for each coefficient, shape ``(B, d)``, from ``log_probs (B, 2^d)``."""
    d = answer_dimension(log_probs)
    plus = (sign_vectors(d, device=log_probs.device, dtype=log_probs.dtype) > 0).to(log_probs.dtype)
    return (log_probs.exp() @ plus).clamp(0.0, 1.0)  # log_probs are normalised: only round-off


def probability_of(log_probs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """P(w) for each prompt: ``log_probs (B, 2^d)``, ``w (B, d)`` -> ``(B,)``."""
    d = answer_dimension(log_probs)
    signs("w", w, shape=(log_probs.shape[0], d))
    return log_probs.gather(1, index_of(w).unsqueeze(1)).squeeze(1).exp().clamp(max=1.0)


def mode(log_probs: torch.Tensor) -> torch.Tensor:
    """The most probable vector of each prompt, shape ``(B, d)`` (the limit of the whole-vector
    vote)."""
    d = answer_dimension(log_probs)
    return sign_vectors(d, device=log_probs.device, dtype=log_probs.dtype)[log_probs.argmax(1)]
