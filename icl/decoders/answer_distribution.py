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

from icl.domain import Accuracy, Choice, Given, Integer, Real, declare
from icl.validation import device as _device
from icl.validation import (
    entries,
    log_probabilities,
    prompt_batch,
    signs,
    tensor,
)

MAX_ENUMERATED_D = 16
PROMPTS = "float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite, d <= 16"
LOG_PROBS = Given(
    "float32 or float64 tensor (B, 2^d), d >= 1, of log-probabilities (no NaN or +inf) that "
    "logsumexp to 0 along each row"
)
FLOAT32 = "float32 inputs: 2^29 times larger, the ratio of the epsilons"
EXACT = Accuracy(relative=1e-15, note="exact: signs and indices, no arithmetic")


@declare(
    EXACT,
    d=Integer(1, MAX_ENUMERATED_D),
    device=Given(
        "None (the CPU) or a device",
        check=lambda name, value: None if value is None else _device(name, value),
        bad=("nowhere",),
    ),
    dtype=Choice((torch.float32, torch.float64)),
)
def sign_vectors(d: int, *, device=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All 2^d vectors of {-1, +1}^d, shape ``(2^d, d)``; row r has v_j = +1 iff bit (d-1-j) of r is
    0.

    So row 0 is all +1 and the order is that of an autoregressive tree whose
    first coefficient is the most significant bit (``+1`` before ``-1``).
    """
    return _sign_vectors(d, device, dtype)


def _sign_vectors(d: int, device, dtype: torch.dtype) -> torch.Tensor:
    rows = torch.arange(2**d, device=device)
    bits = (rows.unsqueeze(1) >> torch.arange(d - 1, -1, -1, device=device)) & 1
    return (1 - 2 * bits).to(dtype)


@declare(EXACT, v=Given("float32 or float64 tensor (..., d) of -1 and +1 only, 1 <= d <= 62"))
def index_of(v: torch.Tensor) -> torch.Tensor:
    """The row of :func:`sign_vectors` holding each sign vector: ``v (..., d)`` -> ``(...)`` long.

    The support code (:func:`icl.decoders.sparse_chains.support_codes`) of the minus signs, read
    with the first coefficient as the most significant bit.
    """
    signs("v", v, min_ndim=1)
    if v.shape[-1] > 62:
        raise ValueError(f"v must have d <= 62 coordinates, got d = {v.shape[-1]}")
    return _index_of(v)


def _index_of(v: torch.Tensor) -> torch.Tensor:
    powers = 2 ** torch.arange(v.shape[-1] - 1, -1, -1, device=v.device, dtype=torch.int64)
    return ((v < 0).to(torch.int64) * powers).sum(-1)


@declare(
    Accuracy(
        absolute=1e-12,
        note="per log-probability, in units of 1 + K with K = max_v sum_i (|y_i| + |x_i|_1)^2 / "
        "(2 sigma2), the scale at which the residuals round (the log-likelihoods are taken "
        f"relative to the best one, so none overflows); {FLOAT32}",
    ),
    X=Given(PROMPTS),
    y=Given(PROMPTS),
    sigma2=Real(0.0, open_low=True),
)
def rademacher_log_posterior(X: torch.Tensor, y: torch.Tensor, sigma2: float) -> torch.Tensor:
    """log P(v | X, y) for the uniform prior on {-1, +1}^d: ``-||y - X v||^2 / (2 sigma2)``
    normalised; ``(B, 2^d)``. Refused: d > 16, more than 2^27 residuals (B * 2^d * n)."""
    batch, n, d = prompt_batch(X, y)
    _enumerable(d)
    entries("B * 2^d * n", batch * 2**d * n)
    v = _sign_vectors(d, X.device, X.dtype).expand(batch, -1, -1)
    residual = v @ X.transpose(1, 2) - y.unsqueeze(1)  # (B, 2^d, n)
    squares = (residual**2).sum(-1).double()  # float64 from here: sigma2 may be below float32
    log_lik = -(squares - squares.amin(1, keepdim=True)) / (2 * sigma2)  # the best one is 0
    return (log_lik - torch.logsumexp(log_lik, dim=1, keepdim=True)).to(X.dtype)


def _enumerable(d: int) -> None:
    if d > MAX_ENUMERATED_D:
        raise ValueError(f"d must be <= {MAX_ENUMERATED_D} to enumerate {{-1, +1}}^d, got {d}")


@declare(
    Accuracy(
        relative=1e-12,
        note="per coefficient, relative to S_j = eta sum_i |x_ij y_i| / n (the terms that may "
        f"cancel); {FLOAT32}; a result that overflows the dtype is refused",
    ),
    X=Given("float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite"),
    y=Given("float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite"),
    eta=Real(0.0, open_low=True),
)
def linear_estimate(X: torch.Tensor, y: torch.Tensor, eta: float) -> torch.Tensor:
    """Chapter 5's one-step estimate w_hat = eta X^T y / n, shape ``(B, d)``."""
    prompt_batch(X, y)
    return _linear_estimate(X, y, eta)


def _linear_estimate(X: torch.Tensor, y: torch.Tensor, eta: float) -> torch.Tensor:
    w_hat = eta * torch.einsum("bnd,bn->bd", X, y) / X.shape[1]
    if not bool(torch.isfinite(w_hat).all()):
        raise ValueError(
            f"eta X^T y / n overflows {X.dtype} (eta = {eta:g}); X, y or eta too large"
        )
    return w_hat


@declare(
    Accuracy(
        absolute=1e-12,
        note="per log-probability, in units of 1 + |log P_T(v)| + sum_j 2 S_j / T with S_j as in "
        "linear_estimate: the logits' rounding, magnified by 1 / T (a tiny T is ill-conditioned: "
        f"the answer then follows the sign of the rounded w_hat_j); {FLOAT32}",
    ),
    X=Given(PROMPTS),
    y=Given(PROMPTS),
    eta=Real(0.0, open_low=True),
    temperature=Real(0.0, open_low=True),
)
def linear_log_probs(
    X: torch.Tensor, y: torch.Tensor, eta: float, temperature: float
) -> torch.Tensor:
    """log P_T(v) of the linear decoder: independent coefficients, logits ``+-w_hat_j / T``; ``(B,
    2^d)``.

    ``log P_T(v) = sum_j log sigmoid(2 v_j w_hat_j / T)`` (-inf where the logit overflows: a
    probability below the smallest float). Refused: d > 16, more than 2^27 entries (B * 2^d * d).
    """
    batch, _, d = prompt_batch(X, y)
    _enumerable(d)
    entries("B * 2^d * d", batch * 2**d * d)
    w_hat = _linear_estimate(X, y, eta).double()  # float64: T may be below float32
    v = _sign_vectors(d, X.device, torch.float64)
    logits = 2 * torch.einsum("bd,sd->bsd", w_hat, v) / temperature
    return torch.nn.functional.logsigmoid(logits).sum(-1).to(X.dtype)


@declare(Accuracy(relative=1e-15, note="exact: an integer"), log_probs=LOG_PROBS)
def answer_dimension(log_probs: torch.Tensor) -> int:
    """The dimension d of a table ``log_probs (B, 2^d)`` of log-probabilities over {-1, +1}^d
    (normalised per row: ``logsumexp = 0``, :func:`icl.validation.log_probabilities`), or
    ``ValueError``/``TypeError``."""
    return _dimension(log_probs)


def _dimension(log_probs: torch.Tensor) -> int:
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


@declare(
    Accuracy(
        relative=1e-13,
        absolute=1e-300,
        note="a sum of exp(log P) in float64, rounded to the input's dtype; below the dtype's "
        f"smallest normal number absolute; {FLOAT32} (absolute: 1e-37)",
    ),
    log_probs=LOG_PROBS,
)
def marginals(log_probs: torch.Tensor) -> torch.Tensor:
    """P(v_j = +1) for each coefficient, shape ``(B, d)``, from ``log_probs (B, 2^d)``."""
    d = _dimension(log_probs)
    plus = (_sign_vectors(d, log_probs.device, torch.float64) > 0).to(torch.float64)
    total = log_probs.double().exp() @ plus  # normalised rows: only round-off above 1
    return total.clamp(0.0, 1.0).to(log_probs.dtype)


@declare(
    Accuracy(
        relative=1e-15,
        absolute=1e-300,
        note="exp of the given log-probability, rounded once; below the dtype's smallest normal "
        f"number absolute; {FLOAT32} (absolute: 1e-37)",
    ),
    log_probs=LOG_PROBS,
    w=Given("float32 or float64 tensor (B, d) of -1 and +1"),
)
def probability_of(log_probs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """P(w) for each prompt: ``log_probs (B, 2^d)``, ``w (B, d)`` -> ``(B,)``."""
    d = _dimension(log_probs)
    signs("w", w, shape=(log_probs.shape[0], d))
    return log_probs.gather(1, _index_of(w).unsqueeze(1)).squeeze(1).exp().clamp(max=1.0)


@declare(EXACT, log_probs=LOG_PROBS)
def mode(log_probs: torch.Tensor) -> torch.Tensor:
    """The most probable vector of each prompt, shape ``(B, d)`` (the limit of the whole-vector
    vote); of equally probable vectors, the first in the order of :func:`sign_vectors`."""
    d = _dimension(log_probs)
    return _sign_vectors(d, log_probs.device, log_probs.dtype)[log_probs.argmax(1)]
