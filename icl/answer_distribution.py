"""Exact answer distributions over the sign vectors {-1, +1}^d, and what decoding does with them.

For a small dimension d every answer a decoder can emit, a vector v in
{-1, +1}^d, can be listed (:func:`sign_vectors`, 2^d rows). A decoder is then
described per prompt by a log-probability for every v, shape ``(B, 2^d)``,
and the accuracy of each decoding technique follows exactly from it:

- a single sample is right with probability ``P(w)``;
- pass@k (some of k i.i.d. samples is right): ``1 - (1 - P(w))^k``;
- the majority vote of N samples on coefficient j, ties broken by a fair
  coin, is right with probability
  ``V_N(q) = P(Bin(N, q) > N/2) + P(Bin(N, q) = N/2) / 2``, where
  ``q = P(v_j = w_j)`` is the marginal of coefficient j
  (:func:`icl.theory.majority_vote_accuracy`, which takes tensors);
- the whole-vector vote of 3 samples: :func:`vector_vote_accuracy_3`;
- best-of-N with a reward r (keep the sample of largest reward; with a
  continuous reward ties have probability 0) returns v with probability
  ``F(r(v))^N - F^-(r(v))^N``, ``F(t) = P(r <= t)``, ``F^-(t) = P(r < t)``.

Two reference distributions are given here: the Bayes posterior of the
rademacher prior (:func:`rademacher_log_posterior`) and Chapter 5's linear
decoder (:func:`linear_log_probs`), whose coefficients are independent with
``P(v_j = +1) = sigmoid(2 w_hat_j / T)``, ``w_hat = eta X^T y / n``.
Shapes: ``X (B, n, d)``, ``y (B, n)``, ``w (B, d)``.
"""

from __future__ import annotations

import math

import torch

from icl.binary_chains import support_codes
from icl.rewards import in_context_loss
from icl.validation import integer, prompt_batch, real

MAX_ENUMERATED_D = 16


def sign_vectors(d: int, *, device=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All 2^d vectors of {-1, +1}^d, shape ``(2^d, d)``; row r has v_j = +1 iff bit (d-1-j) of r is 0.

    So row 0 is all +1 and the order is that of an autoregressive tree whose
    first coefficient is the most significant bit (``+1`` before ``-1``).
    """
    d = integer("d", d)
    if d > MAX_ENUMERATED_D:
        raise ValueError(f"d must be <= {MAX_ENUMERATED_D} to enumerate {{-1, +1}}^d, got {d}")
    rows = torch.arange(2**d, device=device)
    bits = (rows.unsqueeze(1) >> torch.arange(d - 1, -1, -1, device=device)) & 1
    return (1 - 2 * bits).to(dtype)


def index_of(v: torch.Tensor) -> torch.Tensor:
    """The row of :func:`sign_vectors` holding each sign vector: ``v (..., d)`` -> ``(...)`` long.

    The support code (:func:`icl.binary_chains.support_codes`) of the minus signs, read with
    the first coefficient as the most significant bit.
    """
    if v.ndim < 1 or v.shape[-1] < 1:
        raise ValueError(f"v must have a last dimension d >= 1, got shape {tuple(v.shape)}")
    return support_codes((v < 0).flip(-1))


def rademacher_log_posterior(X: torch.Tensor, y: torch.Tensor, sigma2: float) -> torch.Tensor:
    """log P(v | X, y) for the uniform prior on {-1, +1}^d: ``-||y - X v||^2 / (2 sigma2)`` normalised; ``(B, 2^d)``."""
    prompt_batch(X, y)
    sigma2 = real("sigma2", sigma2, minimum=0.0, strict=True)
    v = sign_vectors(X.shape[2], device=X.device, dtype=X.dtype).expand(X.shape[0], -1, -1)
    log_lik = -in_context_loss(v, X, y) * X.shape[1] / (2 * sigma2)  # in_context_loss = ||X v - y||^2 / n
    return log_lik - torch.logsumexp(log_lik, dim=1, keepdim=True)


def linear_estimate(X: torch.Tensor, y: torch.Tensor, eta: float) -> torch.Tensor:
    """Chapter 5's one-step estimate w_hat = eta X^T y / n, shape ``(B, d)``."""
    prompt_batch(X, y)
    eta = real("eta", eta, minimum=0.0, strict=True)
    return eta * torch.einsum("bnd,bn->bd", X, y) / X.shape[1]


def linear_log_probs(X: torch.Tensor, y: torch.Tensor, eta: float, temperature: float) -> torch.Tensor:
    """log P_T(v) of the linear decoder: independent coefficients, logits ``+-w_hat_j / T``; ``(B, 2^d)``.

    ``log P_T(v) = sum_j log sigmoid(2 v_j w_hat_j / T)``.
    """
    temperature = real("temperature", temperature, minimum=0.0, strict=True)
    w_hat = linear_estimate(X, y, eta)
    v = sign_vectors(X.shape[2], device=X.device, dtype=X.dtype)
    return torch.nn.functional.logsigmoid(2 * torch.einsum("bd,sd->bsd", w_hat, v) / temperature).sum(-1)


def _check_log_probs(log_probs: torch.Tensor) -> int:
    if log_probs.ndim != 2 or log_probs.shape[1] < 2 or log_probs.shape[1] & (log_probs.shape[1] - 1):
        raise ValueError(f"log_probs must be (B, 2^d) with d >= 1, got shape {tuple(log_probs.shape)}")
    return log_probs.shape[1].bit_length() - 1


def marginals(log_probs: torch.Tensor) -> torch.Tensor:
    """P(v_j = +1) for each coefficient, shape ``(B, d)``, from ``log_probs (B, 2^d)``."""
    d = _check_log_probs(log_probs)
    plus = (sign_vectors(d, device=log_probs.device, dtype=log_probs.dtype) > 0).to(log_probs.dtype)
    return (log_probs.exp() @ plus).clamp(0.0, 1.0)  # the clamp only removes round-off


def probability_of(log_probs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """P(w) for each prompt: ``log_probs (B, 2^d)``, ``w (B, d)`` -> ``(B,)``."""
    d = _check_log_probs(log_probs)
    if w.shape != (log_probs.shape[0], d):
        raise ValueError(f"w must be (B, d) = {(log_probs.shape[0], d)}, got {tuple(w.shape)}")
    return log_probs.gather(1, index_of(w).unsqueeze(1)).squeeze(1).exp().clamp(max=1.0)


def mode(log_probs: torch.Tensor) -> torch.Tensor:
    """The most probable vector of each prompt, shape ``(B, d)`` (the limit of the whole-vector vote)."""
    d = _check_log_probs(log_probs)
    return sign_vectors(d, device=log_probs.device, dtype=log_probs.dtype)[log_probs.argmax(1)]


def pass_at_k(p: torch.Tensor, k: int) -> torch.Tensor:
    """1 - (1 - p)^k: the probability that some of k i.i.d. samples is right, elementwise in ``p``."""
    k = integer("k", k)
    if not torch.is_tensor(p) or p.numel() == 0 or p.min() < 0 or p.max() > 1:
        raise ValueError("p must be a non-empty tensor of probabilities in [0, 1]")
    return -torch.expm1(k * torch.log1p(-p.double().clamp(max=1.0))).to(p.dtype)


def best_of_n_accuracy(log_probs: torch.Tensor, reward: torch.Tensor, target: torch.Tensor, n_samples: int) -> torch.Tensor:
    """P(best-of-N returns ``target``): ``F(r_target)^N - F^-(r_target)^N`` per prompt, shape ``(B,)``.

    ``log_probs (B, 2^d)`` is the sampler, ``reward (B, 2^d)`` the reward of
    every vector (higher is better), ``target (B, d)``.
    """
    d = _check_log_probs(log_probs)
    n_samples = integer("n_samples", n_samples)
    if reward.shape != log_probs.shape:
        raise ValueError(f"reward must have the shape of log_probs {tuple(log_probs.shape)}, got {tuple(reward.shape)}")
    if target.shape != (log_probs.shape[0], d):
        raise ValueError(f"target must be (B, d) = {(log_probs.shape[0], d)}, got {tuple(target.shape)}")
    probs = log_probs.double().exp()
    r_target = reward.gather(1, index_of(target).unsqueeze(1))
    below_or_equal = (probs * (reward <= r_target)).sum(1)
    below = (probs * (reward < r_target)).sum(1)
    return below_or_equal**n_samples - below**n_samples


def vector_vote_accuracy_3(log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """P(the whole-vector vote of 3 i.i.d. samples returns ``target``), per prompt, shape ``(B,)``.

    With ``p = P(target)`` and ``S2 = sum_v P(v)^2``: at least two samples equal the target
    (``3p^2 - 2p^3``), or exactly one does and the other two are distinct, a three-way tie won
    with probability 1/3 (``p [(1 - p)^2 - (S2 - p^2)]``).
    """
    p = probability_of(log_probs, target).double()
    s2 = (2 * log_probs.double()).exp().sum(1)
    return 3 * p**2 - 2 * p**3 + p * ((1 - p) ** 2 - (s2 - p**2))


def votes_needed(delta: float, target: float) -> float:
    """Normal approximation to the votes N for V_N(1/2 + delta) = target: (Phi^{-1}(target) / (2 delta))^2."""
    delta = real("delta", delta, minimum=0.0, strict=True)
    target = real("target", target, minimum=0.5, strict=True)
    if delta > 0.5 or target >= 1:
        raise ValueError(f"need delta <= 0.5 and target < 1, got delta={delta}, target={target}")
    z = math.sqrt(2) * torch.special.erfinv(torch.tensor(2 * target - 1, dtype=torch.float64)).item()
    return (z / (2 * delta)) ** 2
