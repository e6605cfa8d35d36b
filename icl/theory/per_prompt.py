r"""Chapter 9: hard and easy prompts, and where test-time compute should go.

**The risk of one prompt.** At test time the design :math:`X` of the prompt is seen. For Chapter
3's multiplicative-noise chains (step :math:`\eta`, noise level :math:`\delta`), averaged over
:math:`w \sim N(0, \psi^2 I)` and the label noise with :math:`X` fixed, the average of :math:`N`
chains of :math:`T` steps has risk :math:`b_T(X) + v_T(X) / N`, with (eigenvalues :math:`s_j` of
:math:`S = X^\top X / n`, :math:`a_j = 1 - \eta (s_j + \delta^2)`, :math:`\kappa = \eta^2
\delta^4`)

.. math::

    b_T(X) &= \sum_j \frac{\psi^2 (\delta^2 + s_j a_j^T)^2
        + (\sigma^2 / n) s_j (1 - a_j^T)^2}{(s_j + \delta^2)^2}, \\
    v_T(X) &= \sum_j c_{T,j}, \qquad c_{t+1,j} = a_j^2 c_{t,j} + \kappa \Big(c_{t,j} + q_{t,j}
        + \sum_k (c_{t,k} + q_{t,k})\Big), \qquad
    q_{t,j} = \frac{\psi^2 s_j^2 + \sigma^2 s_j / n}{(s_j + \delta^2)^2} (1 - a_j^t)^2

(:func:`conditional_chain_terms`; the prompt average of these is
:func:`icl.theory.prompt_averaged_chain_terms`).

**Where the compute should go.** Given each prompt's terms, :func:`allocate_budget` spends a total
budget of :math:`M B` chain-steps over :math:`M` prompts, choosing :math:`(N_i, T_i)` per prompt to
minimise the mean risk, by a Lagrangian over each prompt's menu.

**When more votes hurt.** :func:`mixture_vote_accuracy` is the accuracy of a majority vote over a
mixture of prompts of different difficulty.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from icl.domain import Accuracy, Condition, Given, Integer, Real, declare
from icl.theory.binary_decoding import _majority_vote
from icl.theory.budget import _spread_recursion
from icl.validation import array

MAX_STEPS = 10**5
"""Largest number of steps T of :func:`conditional_chain_terms`."""
TERMS_WORK = 5 * 10**8
"""Largest (prompts) d (T + 1) of :func:`conditional_chain_terms`: its recursion's work."""
_CHUNK = 2**22


class PromptChainTerms(NamedTuple):
    r"""The bias² and spread of the chains given the prompt's design, for :math:`t = 0..T`.

    Parameters
    ----------
    bias2 : numpy.ndarray
        :math:`b_t(X) = \mathbb{E}[\|m_t - w\|^2 \mid X]`, shape ``X.shape[:-2] + (T + 1,)``.
    trace : numpy.ndarray
        :math:`v_t(X) = \mathbb{E}[\operatorname{tr} C_t \mid X]`, of the same shape.
    """

    bias2: np.ndarray
    trace: np.ndarray


def _designs(name: str, value) -> np.ndarray:
    """An (..., n, d) array of designs, entries of magnitude at most 1e3, as float64."""
    X = array(name, value)
    if X.ndim < 2 or 0 in X.shape:
        raise ValueError(f"{name} must have shape (..., n, d) with n, d >= 1, got {X.shape}")
    if np.max(np.abs(X)) > 1e3:
        raise ValueError(f"{name} must have entries of magnitude <= 1e3")
    return X


def _draw_designs(rng: np.random.Generator) -> np.ndarray:
    n, d = (int(v) for v in rng.integers(1, 12, size=2))
    return rng.standard_normal((int(rng.integers(1, 4)), n, d)) * 10.0 ** rng.uniform(-1, 0.5)


def _spectra(X: np.ndarray) -> np.ndarray:
    """The eigenvalues of S = X^T X / n, ascending, shape (..., d): the min(n, d) eigenvalues of
    the smaller Gram matrix after d - min(n, d) exact zeros."""
    n, d = X.shape[-2:]
    gram = X @ np.swapaxes(X, -1, -2) if n < d else np.swapaxes(X, -1, -2) @ X
    nonzero = np.linalg.eigvalsh(gram).clip(min=0.0) / n
    zeros = np.zeros((*X.shape[:-2], d - nonzero.shape[-1]))
    return np.concatenate([zeros, nonzero], -1)


def _bias_path(s, n, sigma2, eta, delta2, psi2, steps) -> np.ndarray:
    """b_t for t = 0..steps given the spectra s (..., d): (..., steps + 1). With x = eta (s +
    delta2) and a = 1 - x, a^t = sign(a)^t exp(t log|a|) and 1 - a^t = -expm1(t log1p(-x)) where
    a > 0 (no cancellation as a -> 1); in chunks of rows."""
    d = s.shape[-1]
    flat = s.reshape(-1, 1, d)
    t = np.arange(steps + 1, dtype=float)[None, :, None]
    out = np.empty((len(flat), steps + 1))
    rows = max(1, _CHUNK // ((steps + 1) * d))
    for start in range(0, len(flat), rows):
        s_r = flat[start : start + rows]
        x = eta * (s_r + delta2)
        a = 1 - x
        with np.errstate(divide="ignore", invalid="ignore", under="ignore", over="ignore"):
            power = np.where(t == 0, 1.0, np.exp(t * np.log(np.abs(a))))
            power = np.where((a < 0) & (t % 2 == 1), -power, power)
            rest = np.where(a > 0, -np.expm1(t * np.log1p(-np.where(a > 0, x, 0.0))), 1 - power)
            bias = psi2 * (delta2 + s_r * power) ** 2 + sigma2 / n * s_r * rest**2
        out[start : start + rows] = (bias / (s_r + delta2) ** 2).sum(-1)
    return out.reshape(*s.shape[:-1], steps + 1)


def _spread_path(s, n, sigma2, eta, delta2, psi2, steps) -> np.ndarray:
    """v_t for t = 0..steps given the spectra s (..., d): (..., steps + 1), by
    the recursion of the module docstring (``_spread_recursion`` of :mod:`icl.theory.budget`)."""
    out = np.zeros((*s.shape[:-1], steps + 1))

    def record(step, values):
        out[..., step] = values

    _spread_recursion(s, n, sigma2, eta, delta2, psi2, steps, record)
    return out


def _diverged(steps: int, *paths: np.ndarray) -> None:
    if not all(np.all(np.isfinite(p)) for p in paths):
        raise ValueError(
            f"the chains' moments overflow float64 by T = {steps} on some design: the"
            " multiplicative noise (eta^2 level^4 (d + 1) against 1 - a^2) or a step with"
            " |1 - eta (s_j + level^2)| > 1 makes it diverge; take fewer steps or a smaller eta"
        )


@declare(
    Accuracy(
        relative=1e-9,
        note="b_t in closed form (a^t by exp(t log|a|), 1 - a^t by expm1); v_t by its recursion, a"
        " sum of non-negative terms; both exact for the eigenvalues LAPACK returns (each within"
        " about 1e-15 s_max of the exact one)",
    ),
    X=Given(
        "an array or tensor of shape (..., n, d), n, d >= 1, finite entries of magnitude <= 1e3",
        check=_designs,
        bad=(np.zeros(3), np.zeros((2, 0)), [[1.0, float("nan")]], [[2e3]]),
        draw=_draw_designs,
    ),
    sigma2=Real(0.0, 1e6),
    eta=Real(1e-6, 10.0),
    level=Real(1e-3, 10.0),
    steps=Integer(0, MAX_STEPS),
    psi2=Real(1e-6, 1e6),
    where=[
        Condition(
            f"(prompts) d (T + 1) <= {TERMS_WORK:.0e} (the recursion's work)",
            lambda X, steps: X[..., 0, :].size * (steps + 1) <= TERMS_WORK,
            {"X": np.zeros((1000, 2, 1000)), "steps": 1000},
        )
    ],
)
def conditional_chain_terms(
    X, sigma2: float, eta: float, level: float, steps: int, *, psi2: float = 1.0
) -> PromptChainTerms:
    r"""The exact bias² :math:`b_t(X)` and spread :math:`v_t(X)` of the chains given the design.

    For Chapter 3's multiplicative-noise chains started at 0, averaged over
    :math:`w \sim N(0, \psi^2 I)` and the label noise with the design :math:`X` fixed, for
    :math:`t = 0, \dots, T`: the average of :math:`N` chains of :math:`T` steps has risk
    :math:`b_T(X) + v_T(X) / N` given :math:`X`.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        The design, shape ``(n, d)``, or a batch of them ``(..., n, d)``; finite entries of
        magnitude at most :math:`10^3`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2`, :math:`0 \le \sigma^2 \le 10^6`.
    eta : float
        Step size :math:`\eta`, :math:`10^{-6} \le \eta \le 10`.
    level : float
        Multiplicative-noise level :math:`\delta`, :math:`10^{-3} \le \delta \le 10`.
    steps : int
        The last step :math:`T`, :math:`0 \le T \le 10^5`, with (prompts) :math:`d (T + 1) \le 5
        \cdot 10^8`.
    psi2 : float, optional
        Prior variance :math:`\psi^2`, :math:`10^{-6} \le \psi^2 \le 10^6`; default 1.

    Returns
    -------
    PromptChainTerms
        ``bias2`` and ``trace``, numpy arrays of shape ``X.shape[:-2] + (steps + 1,)``.

    Raises
    ------
    ValueError
        If the spread overflows float64 (the chain diverges on this design: some
        :math:`|1 - \eta (s_j + \delta^2)| > 1`, or the multiplicative noise is too strong), or
        if an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    With :math:`s_j` the eigenvalues of :math:`S = X^\top X / n`, :math:`a_j = 1 - \eta (s_j +
    \delta^2)` and :math:`\kappa = \eta^2 \delta^4`,

    .. math::

        b_t(X) = \sum_j \frac{\psi^2 (\delta^2 + s_j a_j^t)^2 + (\sigma^2 / n) s_j (1 -
        a_j^t)^2}{(s_j + \delta^2)^2}, \qquad v_t(X) = \sum_j c_{t,j},

    :math:`c_{t+1,j} = a_j^2 c_{t,j} + \kappa (c_{t,j} + q_{t,j} + \sum_k (c_{t,k} + q_{t,k}))`,
    :math:`c_{0,j} = 0`, :math:`q_{t,j} = (\psi^2 s_j^2 + \sigma^2 s_j / n)(1 - a_j^t)^2 / (s_j +
    \delta^2)^2` (the diagonal of the chain's covariance in the eigenbasis of :math:`S`, which the
    off-diagonal entries do not feed, averaged over :math:`w` and the noise: it is linear in the
    squared mean). As :math:`T \to \infty` on a typical design,
    :math:`b_T(X) \to \sum_j (\psi^2 \delta^4 + \sigma^2 s_j / n) / (s_j + \delta^2)^2`, the
    risk of ridge regression with penalty :math:`\delta^2` given :math:`X`.
    """
    n = X.shape[-2]
    s = _spectra(X)
    delta2 = level**2
    bias2 = _bias_path(s, n, sigma2, eta, delta2, psi2, steps)
    trace = _spread_path(s, n, sigma2, eta, delta2, psi2, steps)
    _diverged(steps, bias2, trace)
    return PromptChainTerms(bias2, trace)


def _probabilities(name: str, value) -> np.ndarray:
    """A non-empty 1-d array of values in [0, 1] (at most 10^6 of them)."""
    p = array(name, value)
    if p.ndim != 1 or not 1 <= p.size <= 10**6:
        raise ValueError(f"{name} must be a 1-d array of 1 to 10^6 entries, got shape {p.shape}")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"{name} must lie in [0, 1]")
    return p


def _weights(name: str, value) -> np.ndarray:
    """A non-empty 1-d array of non-negative values summing to 1 within 1e-9."""
    w = array(name, value, minimum=0.0)
    if w.ndim != 1 or not 1 <= w.size <= 10**6:
        raise ValueError(f"{name} must be a 1-d array of 1 to 10^6 entries, got shape {w.shape}")
    if abs(w.sum() - 1) > 1e-9:
        raise ValueError(f"{name} must sum to 1 (within 1e-9), got {w.sum()!r}")
    return w


def _vote_counts(name: str, value):
    """An integer N in [1, 10^9] or a non-empty 1-d array of them (of at most 10^4)."""
    if np.ndim(value) == 0 and not isinstance(value, np.ndarray | torch.Tensor):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer or an array of integers, got {value!r}")
        counts = np.array([int(value)])
    else:
        counts = np.asarray(value)
        if counts.ndim != 1 or not 1 <= counts.size <= 10**4 or counts.dtype.kind not in "iu":
            raise ValueError(f"{name} must be a 1-d array of 1 to 10^4 integers, got {value!r}")
    if counts.min() < 1 or counts.max() > 10**9:
        raise ValueError(f"{name} must lie in [1, 10^9], got {value!r}")
    return value if np.ndim(value) == 0 else counts.astype(np.int64)


@declare(
    Accuracy(
        relative=1e-10,
        absolute=1e-300,
        note="a weighted sum of icl.theory.majority_vote_accuracy's values (scipy's regularised"
        " incomplete beta and binomial pmf), each to 1e-12 up to N = 10^5 and 3e-11 at 10^9",
    ),
    p=Given(
        "a 1-d array of 1 to 10^6 probabilities in [0, 1]",
        check=_probabilities,
        bad=([], [0.5, 1.5], [[0.5]], [float("nan")]),
    ),
    weights=Given(
        "a 1-d array of non-negative weights summing to 1, of p's length",
        check=_weights,
        bad=([0.5, 0.6], [-0.5, 1.5], [], [float("inf")]),
    ),
    n_samples=Given(
        "an integer in [1, 10^9] or a 1-d array of 1 to 10^4 of them",
        check=_vote_counts,
        bad=(0, 10**9 + 1, 2.5, np.array([3, 0]), True),
    ),
    where=[
        Condition(
            "p and weights have one length",
            lambda p, weights: p.shape == weights.shape,
            {"p": np.array([0.5, 0.5]), "weights": np.array([1.0])},
        ),
        Condition(
            "len(p) len(n_samples) <= 10^7 (one binomial tail each)",
            lambda p, n_samples: p.size * np.size(n_samples) <= 10**7,
            {
                "p": np.full(10**6, 0.5),
                "weights": np.full(10**6, 1e-6),
                "n_samples": np.arange(1, 101),
            },
        ),
    ],
)
def mixture_vote_accuracy(p, weights, n_samples):
    r"""The accuracy of a majority vote of :math:`N` samples over a mixture of prompts.

    Prompt kind :math:`i` has weight :math:`w_i` and each of its votes is right, independently,
    with probability :math:`p_i`; ties are broken uniformly at random.

    Parameters
    ----------
    p : array_like
        The probabilities :math:`p_i` of a right vote, a 1-d array of 1 to :math:`10^6` values in
        :math:`[0, 1]`.
    weights : array_like
        The weights :math:`w_i \ge 0` of the kinds, of ``p``'s length, summing to 1 (within
        :math:`10^{-9}`).
    n_samples : int or array_like of int
        :math:`N`, :math:`1 \le N \le 10^9`, or a 1-d array of 1 to :math:`10^4` of them, with
        ``len(p) * len(n_samples)`` at most :math:`10^7`.

    Returns
    -------
    accuracy : float or numpy.ndarray
        A float for an integer ``n_samples``, else an array of its shape.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        A(N) = \sum_i w_i A_N(p_i), \qquad
        A_N(p) = P(\mathrm{Bin}(N, p) > N/2) + \tfrac12 P(\mathrm{Bin}(N, p) = N/2)

    (:func:`icl.theory.majority_vote_accuracy`). With ties broken uniformly,
    :math:`A_{2m} = A_{2m-1}`, and :math:`A_N(p)` rises in odd :math:`N` for :math:`p > 1/2`,
    falls for :math:`p < 1/2`: a mixture of easy and hard kinds can rise, then fall.
    """
    counts = np.atleast_1d(n_samples).astype(np.int64)
    values = np.array([float(weights @ _majority_vote(p, int(N))) for N in counts])
    return float(values[0]) if np.ndim(n_samples) == 0 else values


class Allocation(NamedTuple):
    r"""Per-prompt choices :math:`(N_i, T_i)` for a total budget, and their mean risk.

    Parameters
    ----------
    n_chains : numpy.ndarray
        :math:`N_i` (0 where the prompt gets no compute), shape ``(M,)``.
    steps : numpy.ndarray
        :math:`T_i`, shape ``(M,)``.
    risk : float
        The mean risk :math:`\frac1M \sum_i b_{T_i}(X_i) + v_{T_i}(X_i) / N_i` of the choices.
    spent : float
        The mean cost :math:`\frac1M \sum_i N_i T_i \le B`.
    lower_bound : float
        The Lagrangian dual bound: no choice within the budget has a smaller mean risk.
    """

    n_chains: np.ndarray
    steps: np.ndarray
    risk: float
    spent: float
    lower_bound: float


def _terms_table(name: str, value) -> np.ndarray:
    out = array(name, value, minimum=0.0)
    if out.ndim != 2 or out.shape[1] < 2 or not 1 <= out.size <= 2**22:
        raise ValueError(
            f"{name} must be a 2-d array (prompts, T_max + 1) with T_max >= 1 and at most 2^22"
            f" entries, got shape {out.shape}"
        )
    return out


def _choices(bias2, trace, multiplier, total):
    """Each prompt's best (N, T) for the price ``multiplier`` per chain-step: minimises b_T +
    v_T / N + multiplier N T over T = 0 (N = 0, cost 0, risk b_0) and T >= 1 with N the floor
    or ceiling of sqrt(v_T / (multiplier T)), at least 1 and at most total / T. Returns N, T,
    risk, cost (each (M,)) and the minimised sums."""
    t = np.arange(bias2.shape[1], dtype=float)[None, 1:]
    cap = np.floor(total / t)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(trace[:, 1:] / (multiplier * t))
    best_value = bias2[:, 0].copy()
    best = (np.zeros(len(bias2)), np.zeros(len(bias2)), bias2[:, 0].copy())
    for n in (np.floor(root), np.ceil(root)):
        n = np.clip(np.nan_to_num(n, nan=1.0, posinf=np.inf), 1.0, cap)
        risk = bias2[:, 1:] + trace[:, 1:] / n
        value = np.where(cap >= 1, risk + multiplier * n * t, np.inf)
        k = np.argmin(value, axis=1)
        rows = np.arange(len(bias2))
        better = value[rows, k] < best_value
        best_value = np.where(better, value[rows, k], best_value)
        best = tuple(
            np.where(better, new, old)
            for new, old in zip((n[rows, k], t[0, k], risk[rows, k]), best, strict=True)
        )
    n_chains, steps, risk = best
    return n_chains, steps, risk, n_chains * steps, best_value


@declare(
    Accuracy(
        relative=1e-12,
        note="risk and spent exact for the returned choices (sums of the given terms); the"
        " choices optimal up to the returned gap risk - lower_bound (the Lagrangian relaxation's"
        " duality gap, which the greedy completion keeps below one prompt's largest step in risk"
        " divided by M)",
    ),
    bias2=Given(
        "a 2-d array (prompts, T_max + 1) of non-negative finite values, T_max >= 1",
        check=_terms_table,
        bad=(np.zeros(3), np.zeros((2, 1)), [[1.0, -1.0]], [[1.0, float("nan")]]),
    ),
    trace=Given(
        "an array of bias2's shape, non-negative and finite",
        check=_terms_table,
        bad=([[1.0, -1.0]],),
    ),
    budget=Real(0.0, 1e9),
    where=[
        Condition(
            "bias2 and trace have one shape",
            lambda bias2, trace: bias2.shape == trace.shape,
            {"bias2": np.ones((2, 3)), "trace": np.ones((2, 4))},
        )
    ],
)
def allocate_budget(bias2, trace, budget: float) -> Allocation:
    r"""Spend :math:`M B` chain-steps over :math:`M` prompts to minimise their mean risk.

    Prompt :math:`i` gets :math:`N_i` chains of :math:`T_i` steps (or nothing: :math:`N_i = T_i =
    0`, risk :math:`b_0`), with risk :math:`b_{T_i}(X_i) + v_{T_i}(X_i) / N_i`
    (:func:`conditional_chain_terms`) and cost :math:`N_i T_i`, so that :math:`\sum_i N_i T_i \le
    M B`.

    Parameters
    ----------
    bias2 : array_like
        :math:`b_t(X_i)`, shape ``(M, T_max + 1)``, non-negative and finite, :math:`T_{\max} \ge 1`
        (the menu of each prompt is :math:`T \le T_{\max}`); at most :math:`2^{22}` entries.
    trace : array_like
        :math:`v_t(X_i)`, of the same shape.
    budget : float
        The mean budget per prompt :math:`B`, :math:`0 \le B \le 10^9`.

    Returns
    -------
    Allocation
        The choices, their mean risk and cost, and the dual lower bound on the optimum.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    For a price :math:`\mu` per chain-step each prompt minimises :math:`b_T + v_T / N + \mu N T`
    on its own (for fixed :math:`T` the best real :math:`N` is :math:`\sqrt{v_T / (\mu T)}`; the
    convex function of :math:`N` is smallest at its floor or ceiling). The spend falls as
    :math:`\mu` rises: bisection in :math:`\log \mu` between :math:`10^{-300}` and
    :math:`10^{300}`, down to a bracket of relative width :math:`10^{-7}`, finds the cheapest price
    whose choices fit the budget, and every price gives
    the lower bound :math:`\frac1M \sum_i \min(\cdot) - \mu B` (weak duality). Prompts are then
    moved, in order of risk saved per step, to their choice at the next lower price while the
    budget allows.
    """
    M = len(bias2)
    total = M * budget
    lo, hi = -300.0 * np.log(10), 300.0 * np.log(10)
    bound = -np.inf
    for _ in range(200):
        mid = (lo + hi) / 2
        *_, cost, value = _choices(bias2, trace, np.exp(mid), total)
        bound = max(bound, float(value.sum() - np.exp(mid) * total) / M)
        if cost.sum() <= total:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-7:
            break
    n_hi, t_hi, r_hi, c_hi, _ = _choices(bias2, trace, np.exp(hi), total)
    n_lo, t_lo, r_lo, c_lo, _ = _choices(bias2, trace, np.exp(lo), total)
    left = total - c_hi.sum()
    gain, extra = r_hi - r_lo, c_lo - c_hi
    order = np.argsort(-np.where(extra > 0, gain / np.where(extra > 0, extra, 1), -np.inf))
    n_chains, steps, risk = n_hi.copy(), t_hi.copy(), r_hi.copy()
    for i in order:
        if extra[i] <= 0 or gain[i] <= 0 or extra[i] > left:
            continue
        n_chains[i], steps[i], risk[i] = n_lo[i], t_lo[i], r_lo[i]
        left -= extra[i]
    spent = float((n_chains * steps).sum()) / M
    return Allocation(
        n_chains.astype(np.int64), steps.astype(np.int64), float(risk.mean()), spent, bound
    )
