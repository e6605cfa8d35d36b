r"""Exact answer distributions over the sign vectors :math:`\{-1, +1\}^d`.

For a small dimension :math:`d` every answer a decoder can emit, a vector
:math:`v \in \{-1, +1\}^d`, can be listed (:func:`sign_vectors`, :math:`2^d` rows). A decoder is
then described per prompt by a log-probability for every :math:`v`, shape ``(B, 2^d)``: a single
sample is right with probability :math:`P(w)` (:func:`probability_of`), coefficient :math:`j`
with its marginal (:func:`marginals`), and the accuracy of each technique follows exactly from
the table (:mod:`icl.techniques`: pass@k, votes, best-of-N).

Two reference distributions are given here: the Bayes posterior of the rademacher prior
(:func:`rademacher_log_posterior`) and Chapter 5's linear decoder (:func:`linear_log_probs`),
whose coefficients are independent with
:math:`P(v_j = +1) = \operatorname{sigmoid}(2 \hat w_j / T)`,
:math:`\hat w = \eta X^\top y / n`. Shapes: ``X (B, n, d)``, ``y (B, n)``, ``w (B, d)``.
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
    r"""All :math:`2^d` vectors of :math:`\{-1, +1\}^d`.

    Parameters
    ----------
    d : int
        The dimension, :math:`1 \le d \le 16`.
    device : torch.device or str, optional
        Their device; ``None``: the CPU.
    dtype : torch.dtype
        float32 or float64.

    Returns
    -------
    torch.Tensor
        The vectors, ``(2^d, d)``.

    Notes
    -----
    Row :math:`r` has :math:`v_j = +1` iff bit :math:`d - 1 - j` of :math:`r` is 0. So row 0 is all
    :math:`+1` and the order is that of an autoregressive tree whose first coefficient is the most
    significant bit (:math:`+1` before :math:`-1`).
    """
    return _sign_vectors(d, device, dtype)


def _sign_vectors(d: int, device, dtype: torch.dtype) -> torch.Tensor:
    rows = torch.arange(2**d, device=device)
    bits = (rows.unsqueeze(1) >> torch.arange(d - 1, -1, -1, device=device)) & 1
    return (1 - 2 * bits).to(dtype)


@declare(EXACT, v=Given("float32 or float64 tensor (..., d) of -1 and +1 only, 1 <= d <= 62"))
def index_of(v: torch.Tensor) -> torch.Tensor:
    r"""The row of :func:`sign_vectors` holding each sign vector.

    Parameters
    ----------
    v : torch.Tensor
        Sign vectors, float :math:`\pm 1`, ``(..., d)``, :math:`1 \le d \le 62`.

    Returns
    -------
    torch.Tensor
        The rows, ``(...)``, long.

    Raises
    ------
    ValueError
        :math:`d > 62`, or entries other than :math:`\pm 1`.

    Notes
    -----
    The support code (:func:`icl.decoders.sparse_chains.support_codes`) of the minus signs, read
    with the first coefficient as the most significant bit: :math:`\sum_j [v_j < 0]\, 2^{d - 1 -
    j}`.
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
    r"""The Bayes posterior of the uniform prior on :math:`\{-1, +1\}^d`.

    Parameters
    ----------
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``, :math:`d \le 16`.
    y : torch.Tensor
        Their labels, ``(B, n)``.
    sigma2 : float
        The label noise's variance :math:`\sigma^2 > 0`.

    Returns
    -------
    torch.Tensor
        :math:`\log P(v \mid X, y)`, ``(B, 2^d)``, in ``X``'s dtype.

    Raises
    ------
    ValueError
        :math:`d > 16`, more than :math:`2^{27}` residuals (:math:`B\, 2^d n`).

    Notes
    -----
    :math:`-\|y - X v\|^2 / (2 \sigma^2)`, normalised over :math:`v`.
    """
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
    r"""Chapter 5's one-step estimate.

    Parameters
    ----------
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``.
    y : torch.Tensor
        Their labels, ``(B, n)``.
    eta : float
        The step size :math:`\eta > 0`.

    Returns
    -------
    torch.Tensor
        :math:`\hat w`, ``(B, d)``.

    Raises
    ------
    ValueError
        A result that overflows the dtype.

    Notes
    -----
    :math:`\hat w = \eta X^\top y / n`.
    """
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
    r"""The answer distribution of the linear decoder: independent coefficients, logits
    :math:`\pm \hat w_j / T`.

    Parameters
    ----------
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``, :math:`d \le 16`.
    y : torch.Tensor
        Their labels, ``(B, n)``.
    eta : float
        The step size :math:`\eta > 0` of :func:`linear_estimate`.
    temperature : float
        :math:`T > 0`.

    Returns
    -------
    torch.Tensor
        :math:`\log P_T(v)`, ``(B, 2^d)``.

    Raises
    ------
    ValueError
        :math:`d > 16`, more than :math:`2^{27}` entries (:math:`B\, 2^d d`), or an estimate that
        overflows the dtype.

    Notes
    -----
    :math:`\log P_T(v) = \sum_j \log \operatorname{sigmoid}(2 v_j \hat w_j / T)`
    (:math:`-\infty` where the logit overflows: a probability below the smallest float).
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
    r"""The dimension :math:`d` of a table of log-probabilities over :math:`\{-1, +1\}^d`.

    Parameters
    ----------
    log_probs : torch.Tensor
        The table, ``(B, 2^d)``, normalised per row (``logsumexp`` = 0,
        :func:`icl.validation.log_probabilities`).

    Returns
    -------
    int
        :math:`d`.

    Raises
    ------
    ValueError
        A table not of shape ``(B, 2^d)`` with :math:`d \ge 1`, or not normalised.
    TypeError
        Not a float tensor.
    """
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
    """:math:`P(v_j = +1)` for each coefficient.

    Parameters
    ----------
    log_probs : torch.Tensor
        The table of log-probabilities, ``(B, 2^d)``.

    Returns
    -------
    torch.Tensor
        The marginals, ``(B, d)``.
    """
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
    r""":math:`P(w)` for each prompt.

    Parameters
    ----------
    log_probs : torch.Tensor
        The table of log-probabilities, ``(B, 2^d)``.
    w : torch.Tensor
        The vectors, :math:`\pm 1`, ``(B, d)``.

    Returns
    -------
    torch.Tensor
        The probabilities, ``(B,)``.
    """
    d = _dimension(log_probs)
    signs("w", w, shape=(log_probs.shape[0], d))
    return log_probs.gather(1, _index_of(w).unsqueeze(1)).squeeze(1).exp().clamp(max=1.0)


@declare(EXACT, log_probs=LOG_PROBS)
def mode(log_probs: torch.Tensor) -> torch.Tensor:
    """The most probable vector of each prompt (the limit of the whole-vector vote).

    Parameters
    ----------
    log_probs : torch.Tensor
        The table of log-probabilities, ``(B, 2^d)``.

    Returns
    -------
    torch.Tensor
        The vectors, ``(B, d)``; of equally probable vectors, the first in the order of
        :func:`sign_vectors`.
    """
    d = _dimension(log_probs)
    return _sign_vectors(d, log_probs.device, log_probs.dtype)[log_probs.argmax(1)]
