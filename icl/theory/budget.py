r"""Chapter 8: spending a test-time budget: longer chains, more chains, or better selection.

**Longer chains against more chains.** Chapter 3's multiplicative-noise chains (gradient divided
by :math:`n`, step :math:`\eta`, noise :math:`\xi \sim N(0, \delta^2 I)`, :math:`\delta =`
``level``) have, given the prompt, mean :math:`m_T` = the ridge-GD iterate with penalty
:math:`\delta^2` and covariance :math:`C_T`; the average of :math:`N` chains of :math:`T` steps
has risk :math:`\|m_T - w\|^2 + \operatorname{tr} C_T / N`. Averaged over
:math:`w \sim N(0, \psi^2 I)` and the label noise, given the design (eigenvalues :math:`s_j` of
:math:`S = X^\top X / n`, :math:`a_j = 1 - \eta (s_j + \delta^2)`, :math:`\kappa = \eta^2
\delta^4`, :math:`\mu_{2,j} = \mathbb{E} \mu_j^2 = (\psi^2 s_j^2 + \sigma^2 s_j / n) / (s_j +
\delta^2)^2`):

.. math::

    b_T(X) &= \sum_j \frac{\psi^2 (\delta^2 + s_j a_j^T)^2
        + (\sigma^2 / n) s_j (1 - a_j^T)^2}{(s_j + \delta^2)^2}, \\
    c_{t+1,j} &= a_j^2 c_{t,j} + \kappa \Big(c_{t,j} + q_{t,j}
        + \sum_k (c_{t,k} + q_{t,k})\Big), \\
    q_{t,j} &= \mu_{2,j} (1 - a_j^t)^2, \qquad v_T(X) = \sum_j c_{T,j}

(the diagonal recursion of :func:`icl.theory.chain_risk_terms`, linear in the second moments of
the mean, so its average over :math:`w` and the noise replaces :math:`m_j^2` by :math:`q_j`).
The prompt average is over typical designs, :math:`\eta (s_{\max} + \delta^2) \le 2` (Chapter
2's definition). :math:`b_T(X)` is a linear statistic of the spectrum: its average is computed
by quadrature against the exact eigenvalue density of the real Wishart matrix
(:func:`icl.theory.wishart_eigenvalue_density`). :math:`v_T(X)` is not (the sum over :math:`k`
couples the directions): its average is over a seeded sample of designs, whose standard error is
returned with it.

**Best-of-N as a change of distribution.** For a continuous score, the minimum of :math:`N`
i.i.d. scores has density :math:`N (1 - F)^{N-1} f`, so best-of-:math:`N` has KL divergence from
the base sampler :math:`\mathbb{E} \log(N (1 - U)^{N-1}) = \log N - (N - 1) / N` with
:math:`U \sim \mathrm{Beta}(1, N)` (:func:`best_of_n_kl`). Soft selection (weights
:math:`e^{-\mathrm{score} / \beta}`) tends as :math:`N \to \infty` to the base law tilted by
:math:`e^{-\mathrm{score} / \beta}`, Gaussian for a Gaussian sampler and a quadratic score
(:func:`soft_selection_tilt`, prompt-averaged in :math:`d = 1` by
:func:`soft_selection_1d_averaged`).

**Coverage.** For one :math:`\pm 1` coefficient of Chapter 5's model,
:math:`1 - \mathrm{pass@}k = \mathbb{E}(1 - p)^k` (:func:`coverage_miss`) falls as
:math:`C k^{-a} (\log k)^b` at a fixed temperature (:func:`coverage_exponents`), and is smallest
at the temperature :math:`(k - 1) T_{\mathrm{cal}}`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import integrate, special

from icl.domain import Accuracy, Choice, Condition, Given, Integer, Real, declare
from icl.theory import wishart
from icl.theory.wishart import (
    MAX_RANK,
    MAX_SIZE,
    wishart_eigenvalue_density,
    wishart_linear_statistic,
)
from icl.validation import array

_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)

TYPICAL = 1e-7
"""The largest probability of an atypical design, eta (s_max + level^2) > 2, and the largest
certified relative gap between the truncated linear statistic and the typical-design average,
at which the chain terms answer (the rule of :func:`icl.theory.expected_gd_risk`)."""
MAX_STEPS = 10**5
"""Largest number of steps T of the chain terms."""
MAX_DESIGNS = 10**6
"""Largest size of the design sample."""
DESIGN_WORK = 2 * 10**9
"""Largest designs (n d^2 + d^3): drawing the design sample and its spectra."""
STEP_WORK = 6 * 10**8
"""Largest T (designs d + 11000): the spread's recursion over the design sample and the bias
quadrature's ~11000 nodes, step by step."""
_NODES = 11000
_CHUNK = 2**22


class ChainTerms(NamedTuple):
    r"""Prompt-averaged bias and spread of the chains, and the spread's standard error.

    The arrays :math:`\mathbb{E} b_t`, :math:`\mathbb{E} v_t` and the standard error of
    :math:`\mathbb{E} v_t`, for :math:`t = 0, \dots, T`.

    Parameters
    ----------
    bias2 : numpy.ndarray
        :math:`\mathbb{E} b_t` for :math:`t = 0, \dots, T`.
    trace : numpy.ndarray
        :math:`\mathbb{E} v_t = \mathbb{E} \operatorname{tr} C_t` for :math:`t = 0, \dots, T`.
    trace_se : numpy.ndarray
        The standard error of ``trace`` from the design sample.
    """

    bias2: np.ndarray
    trace: np.ndarray
    trace_se: np.ndarray


class BudgetSplit(NamedTuple):
    r"""The best split of a budget :math:`B` into :math:`N` chains of :math:`T` steps, and its risk.

    Parameters
    ----------
    n_chains : int
        :math:`N^*`, with :math:`N T \le B`.
    steps : int
        :math:`T^*`.
    risk : float
        :math:`R^*`, the prompt-averaged risk of the average of the chains.
    risk_se : float
        The standard error of :math:`R^*` from the design sample.
    """

    n_chains: int
    steps: int
    risk: float
    risk_se: float


def _log_p_atypical(n: int, d: int, eta: float, level: float) -> float:
    """log of min(1, E #{j : eta (s_j + level^2) > 2}) >= log P(eta (s_max + level^2) > 2), as
    :func:`icl.theory.expected_gd_risk` bounds it (0 where the cut is inside the bulk)."""
    m, p = min(n, d), max(n, d)
    x_cut = wishart._cut(n, eta, level**2)
    if x_cut < wishart._ensemble(m, p).edge:
        return 0.0
    return min(0.0, wishart._log_count_above(m, p, x_cut))


def _typical(n: int, d: int, eta: float, level: float) -> bool:
    return _log_p_atypical(n, d, eta, level) <= math.log(TYPICAL)


def _convergence_steps(eta: float, level: float) -> int:
    """T_max = ceil(60 / r), r = -log(1 - eta level^2): the slowest rate of the chain terms."""
    return math.ceil(60 / -math.log1p(-eta * level**2))


_N, _D = Integer(1, MAX_SIZE), Integer(1, MAX_SIZE)
_SIGMA2 = Real(0.0, 1e12)
_ETA = Real(0.0, 1e12, open_low=True)
_LEVEL = Real(0.0, 1e6, open_low=True)
_PSI2 = Real(0.0, 1e12, open_low=True)
_RATE = Condition(
    "eta level^2 < 1 (the slowest rate of the chain terms, -log(1 - eta level^2), is then the"
    " one at s = 0)",
    lambda eta, level: eta * level**2 < 1,
    {"eta": 2.0, "level": 1.0},
)
_TYPICAL = Condition(
    f"P(eta (s_max + level^2) > 2) <= {TYPICAL:g} (almost every design is typical, as for"
    " icl.theory.expected_gd_risk)",
    lambda n, d, eta, level: eta * level**2 >= 1 or _typical(n, d, eta, level),
    {"n": 1, "d": 1, "eta": 1.9, "level": 0.1},
)
_RANK = Condition(
    f"min(n, d) <= {MAX_RANK} (the eigenvalue density's range)",
    lambda n, d: min(n, d) <= MAX_RANK,
    {"n": MAX_RANK + 1, "d": MAX_RANK + 1},
)
_DESIGNS = Condition(
    f"designs (n d^2 + d^3) <= {DESIGN_WORK:.0e} (the design sample's cost)",
    lambda n, d, designs: designs * (n * d * d + d**3) <= DESIGN_WORK,
    {"n": 128, "d": 128, "designs": 10**6},
)


def _gap_check(n, d, sigma2, eta, level, psi2, steps) -> None:
    """ValueError unless the certified gap between the truncated linear statistic and the
    typical-design average is below TYPICAL of the value at each of ``steps`` (the rule of
    :func:`icl.theory.expected_gd_risk`, for ridge GD with penalty level^2)."""
    for t in sorted(set(steps)):
        if not wishart._certified(n, d, sigma2, eta, t, psi2, level**2):
            raise ValueError(
                f"the chain terms answer only where the typical-design gap is certified below"
                f" {TYPICAL:g} of their value (as icl.theory.expected_gd_risk): not at n = {n},"
                f" d = {d}, eta = {eta:g}, level = {level:g}, t = {t} (see"
                " icl.theory.gd_risk_parts)"
            )


def _bias_curve(s, w, t, n, sigma2, eta, delta2, psi2):
    """sum_q w_q b_t(s_q) for steps t (k,), nodes s (q,) and weights w (q,): (k,).

    With a = 1 - eta (s + delta2) and P = a^t, b_t(s) = psi2 ((delta2 + s P) / (s + delta2))^2 +
    (sigma2 / n) s (1 - P)^2 / (s + delta2)^2 is a quadratic in P, so the sum is
    c0 + P @ c1 + P^2 @ c2 with a^t = sign(a)^t exp(t log|a|). Nodes with |a|^t < 1e-20 at the
    chunk's first step are left out of the P terms (their share is below 1e-20 of sum |c1| + c2).
    """
    shifted2 = (s + delta2) ** 2
    noise = sigma2 / n * s
    c0 = w @ ((psi2 * delta2**2 + noise) / shifted2)
    c1 = w * (2 * psi2 * delta2 * s - 2 * noise) / shifted2
    c2 = w * (psi2 * s**2 + noise) / shifted2
    a = 1 - eta * (s + delta2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = np.log(np.abs(a))  # -inf where a = 0: a^0 = 1, a^t = 0 after
        active = (t[0] == 0) | (t[0] * log_a > math.log(1e-20))
    a, log_a, c1, c2 = a[active], log_a[active], c1[active], c2[active]
    with np.errstate(divide="ignore", invalid="ignore"):
        power = np.where(t[:, None] == 0, 1.0, np.exp(t[:, None] * log_a))
    odd = (t[:, None] % 2 == 1) & (a < 0)
    return c0 + np.where(odd, -power, power) @ c1 + (power * power) @ c2


def _bias_rule(n: int, d: int, eta: float, delta2: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights in t = sqrt(n s) for E sum_j g(s_j) over the nonzero
    eigenvalues, on graded panels up to the typical-design cut eta (s + delta2) = 2 (or the end of
    the spectrum)."""
    m, p = min(n, d), max(n, d)
    s_end = ((math.sqrt(m) + math.sqrt(p)) ** 2 * 3 + 60.0) / n
    t_top = math.sqrt(n * min(2 / eta - delta2, s_end))
    inner = np.geomspace(1e-6 * t_top, 0.05 * t_top, 60)
    breaks = np.concatenate([[0.0], inner, np.linspace(0.05 * t_top, t_top, 400)[1:]])
    lo, hi = breaks[:-1, None], breaks[1:, None]
    t = ((lo + hi) / 2 + (hi - lo) / 2 * _GL_X).ravel()
    w = ((hi - lo) / 2 * _GL_W).ravel()
    s = t * t / n
    return s, w * wishart_eigenvalue_density(s, n, d) * 2 * t / n


def _designs(n, d, eta, delta2, designs, seed):
    """The spectra (designs, d) of a seeded sample of typical Gaussian designs: drawn in order
    from ``numpy.random.default_rng(seed)``, in chunks; a design with eta (s_max + delta2) > 2
    (probability <= TYPICAL) is left out and the draws go on."""
    rng = np.random.default_rng(seed)
    size = max(1, _CHUNK // (n * d))
    kept, count = [], 0
    while count < designs:
        X = rng.standard_normal((min(size, designs - count), n, d))
        s = np.linalg.eigvalsh(np.einsum("bni,bnj->bij", X, X) / n).clip(min=0.0)
        s = s[eta * (s[:, -1] + delta2) <= 2]
        kept.append(s)
        count += len(s)
    return np.concatenate(kept)


def _chain_terms(n, d, sigma2, eta, level, steps, psi2, designs, seed) -> ChainTerms:
    delta2 = level**2
    t = np.arange(steps + 1)
    s_q, w_q = _bias_rule(n, d, eta, delta2)
    bias2 = np.full(len(t), (d - min(n, d)) * psi2)  # a zero eigenvalue: b_t = psi2 at every t
    for chunk in np.array_split(t, max(1, len(t) // 256)):
        bias2[chunk] += _bias_curve(s_q, w_q, chunk, n, sigma2, eta, delta2, psi2)
    _gap_check(n, d, sigma2, eta, level, psi2, (steps, int(np.argmin(bias2))))
    s = _designs(n, d, eta, delta2, designs, seed)
    trace, trace_sd = np.zeros(steps + 1), np.zeros(steps + 1)

    def record(step, values):
        trace[step], trace_sd[step] = values.mean(), values.std(ddof=1)

    _spread_recursion(s, n, sigma2, eta, delta2, psi2, steps, record)
    if not np.all(np.isfinite(trace_sd)):
        kappa = (eta * delta2) ** 2
        raise ValueError(
            f"the spread of the chains overflows by T = {steps}: the multiplicative noise"
            f" (kappa (d + 1) = {kappa * (d + 1):.3g} against 1 - a^2) makes their second moment"
            " diverge; take fewer steps or a smaller eta level^2"
        )
    return ChainTerms(bias2, trace, trace_sd / math.sqrt(designs))


def _spread_recursion(s, n, sigma2, eta, delta2, psi2, steps, record) -> None:
    """Run the spread's recursion of the module docstring on the spectra ``s`` (..., d) of
    designs and call ``record(t, v_t)`` with v_t = sum_j c_(t,j) (...) for t = 1..steps; e_t = 1 -
    a^t is updated as e_(t+1) = a e_t + x (no cancellation). Overflow is left to the caller to
    detect (inf or NaN in v_t)."""
    x = eta * (s + delta2)
    a, a2 = 1 - x, (1 - x) ** 2
    kappa = (eta * delta2) ** 2
    mu2 = (psi2 * s**2 + sigma2 * s / n) / (s + delta2) ** 2
    c, e = np.zeros_like(s), np.zeros_like(s)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging spread: the caller refuses
        for step in range(1, steps + 1):
            second = c + mu2 * e * e
            c = a2 * c + kappa * (second + second.sum(-1, keepdims=True))
            e = a * e + x
            record(step, c.sum(-1))


_TERMS_WORK = Condition(
    f"T (designs d + {_NODES}) <= {STEP_WORK:.0e} (the cost of the terms' recursions)",
    lambda d, steps, designs: steps * (designs * d + _NODES) <= STEP_WORK,
    {"steps": MAX_STEPS, "designs": 4096},
)


@declare(
    Accuracy(
        relative=1e-8,
        note="E b_t: quadrature against the exact eigenvalue density (1e-10); E v_t and its"
        " standard error: exact for the seeded design sample (sums of non-negative terms); the"
        " standard error to 1e-8 of E v_t",
    ),
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    eta=_ETA,
    level=_LEVEL,
    steps=Integer(0, MAX_STEPS),
    psi2=_PSI2,
    designs=Integer(2, MAX_DESIGNS),
    seed=Integer(0),
    where=[_RANK, _RATE, _TYPICAL, _DESIGNS, _TERMS_WORK],
)
def prompt_averaged_chain_terms(
    n: int,
    d: int,
    sigma2: float,
    eta: float,
    level: float,
    steps: int,
    *,
    psi2: float = 1.0,
    designs: int = 4096,
    seed: int = 0,
) -> ChainTerms:
    r"""The prompt-averaged bias² :math:`\mathbb{E} b_t` and spread :math:`\mathbb{E} v_t`.

    Here :math:`v_t = \operatorname{tr} C_t`; for Chapter 3's multiplicative-noise chains, for
    :math:`t = 0, \dots,` ``steps`` (module docstring).

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^6`; :math:`\min(n, d) \le 256` (the eigenvalue
        density's range).
    d : int
        Dimension, :math:`1 \le d \le 10^6`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}`, with :math:`\eta \delta^2 < 1` (the slowest rate of
        the chain terms, :math:`-\log(1 - \eta \delta^2)`, is then the one at :math:`s = 0`) and
        :math:`P(\eta (s_{\max} + \delta^2) > 2) \le 10^{-7}` (:data:`TYPICAL`; almost every design
        is typical, as for :func:`icl.theory.expected_gd_risk`).
    level : float
        Multiplicative-noise level :math:`\delta`, :math:`0 < \delta \le 10^6`.
    steps : int
        The last step :math:`T`, :math:`0 \le T \le 10^5` (:data:`MAX_STEPS`), with
        :math:`T \, (\mathrm{designs} \cdot d + 11000) \le 6 \cdot 10^8` (:data:`STEP_WORK`).
    psi2 : float, optional
        Prior variance :math:`\psi^2`, :math:`0 < \psi^2 \le 10^{12}`; default 1.
    designs : int, optional
        Size of the design sample, :math:`2 \le \mathrm{designs} \le 10^6` (:data:`MAX_DESIGNS`),
        with :math:`\mathrm{designs} \, (n d^2 + d^3) \le 2 \cdot 10^9` (:data:`DESIGN_WORK`);
        default 4096.
    seed : int, optional
        Seed of ``numpy.random.default_rng`` for the design sample, :math:`\ge 0`; default 0.

    Returns
    -------
    ChainTerms
        Arrays of length ``steps + 1``: :math:`\mathbb{E} b_t`, :math:`\mathbb{E} v_t` and the
        standard error of :math:`\mathbb{E} v_t`.

    Raises
    ------
    ValueError
        Unless the certified gap between the truncated statistic and the typical-design average
        (:func:`icl.theory.gd_risk_parts`' ``bound``) is below :math:`10^{-7}` of
        :math:`\mathbb{E} b_t` at :math:`t = T` and at the :math:`t` of the smallest
        :math:`\mathbb{E} b_t`; or if an argument lies outside its range (see "Domain and accuracy"
        below).

    Notes
    -----
    :math:`\mathbb{E} b_t`: exact, by quadrature against the real-Wishart eigenvalue density over
    the typical designs :math:`\eta (s + \delta^2) \le 2` (matches :func:`icl.theory.gd_risk_parts`
    with ``lam = level**2`` to about :math:`10^{-10}` relative). :math:`\mathbb{E} v_t`: the mean
    over ``designs`` typical Gaussian designs drawn with ``numpy.random.default_rng(seed)``, with
    its standard error (the averages over :math:`w` and the label noise are exact given each
    design).

    Answers where :func:`icl.theory.expected_gd_risk` answers, for ridge GD with penalty
    :math:`\delta^2`: the atypical designs have probability at most :math:`10^{-7}`, and the gap
    above is below :math:`10^{-7}`.
    """
    return _chain_terms(n, d, sigma2, eta, level, steps, psi2, designs, seed)


@declare(
    Accuracy(relative=1e-9, note="quadrature against the exact eigenvalue density (1e-10)"),
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    eta=_ETA,
    level=_LEVEL,
    psi2=_PSI2,
    where=[_RANK, _RATE, _TYPICAL],
)
def ridge_limit_risk(n: int, d: int, sigma2: float, eta: float, level: float, *, psi2=1.0):
    r"""The :math:`N, T \to \infty` limit of the budget's risk: the prompt-averaged risk of ridge.

    The ridge penalty is :math:`\delta^2 =` ``level**2``; the average is over the typical designs
    :math:`\eta (s_{\max} + \delta^2) \le 2`.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^6`; :math:`\min(n, d) \le 256` (the eigenvalue
        density's range).
    d : int
        Dimension, :math:`1 \le d \le 10^6`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}`, with :math:`\eta \delta^2 < 1` (the slowest rate of
        the chain terms, :math:`-\log(1 - \eta \delta^2)`, is then the one at :math:`s = 0`) and
        :math:`P(\eta (s_{\max} + \delta^2) > 2) \le 10^{-7}` (:data:`TYPICAL`; almost every design
        is typical, as for :func:`icl.theory.expected_gd_risk`).
    level : float
        Multiplicative-noise level :math:`\delta`, :math:`0 < \delta \le 10^6`.
    psi2 : float, optional
        Prior variance :math:`\psi^2`, :math:`0 < \psi^2 \le 10^{12}`; default 1.

    Returns
    -------
    risk : float
        :math:`\mathbb{E} \sum_j [\psi^2 \delta^4 + (\sigma^2 / n) s_j] / (s_j + \delta^2)^2`.

    Raises
    ------
    ValueError
        Unless the gap to the typical-design average, at most
        :math:`(d - 1) (\psi^2 + \sigma^2 / (4 n \delta^2)) P(\eta (s_{\max} + \delta^2) > 2)`, is
        below :math:`10^{-7}` of the value; or if an argument lies outside its range (see "Domain
        and accuracy" below).

    Notes
    -----
    .. math::

        \mathbb{E} \sum_j \frac{\psi^2 \delta^4 + (\sigma^2 / n) s_j}{(s_j + \delta^2)^2},

    by quadrature (:func:`icl.theory.wishart_linear_statistic`). Answers where
    :func:`prompt_averaged_chain_terms` does.
    """
    delta2 = level**2
    value = wishart_linear_statistic(
        lambda s: (psi2 * delta2**2 + sigma2 / n * s) / (s + delta2) ** 2,
        n,
        d,
        upper=2 / eta - delta2,
    )
    p_atypical = math.exp(_log_p_atypical(n, d, eta, level))
    bound = (d - 1) * (psi2 + sigma2 / (4 * n * delta2)) * p_atypical
    if not bound <= TYPICAL * value:
        raise ValueError(
            f"ridge_limit_risk answers only where the typical-design gap is below {TYPICAL:g} of"
            f" the value: it may be {bound:.2g} against {value:.6g}"
        )
    return value


def _curve(name: str, value) -> np.ndarray:
    out = array(name, value, minimum=0.0)
    if out.ndim != 1 or len(out) < 2:
        raise ValueError(f"{name} must be a 1-d array of length >= 2 (t = 0..T_max)")
    return out


@declare(
    Accuracy(
        relative=1e-15,
        note="(N*, T*) exact (ties go to the smallest T) and R* = bias2[T*] + trace[T*] / N*"
        " rounded twice",
    ),
    bias2=Given("a 1-d array of non-negative finite values, length >= 2", check=_curve),
    trace=Given("a 1-d array of non-negative finite values, length >= 2", check=_curve),
    budget=Integer(1),
    where=[
        Condition(
            "bias2 and trace have one length",
            lambda bias2, trace: bias2.shape == trace.shape,
            {"trace": np.zeros(3)},
        )
    ],
)
def best_split(bias2: np.ndarray, trace: np.ndarray, budget: int) -> tuple[int, int, float]:
    r"""The best split :math:`(N^*, T^*, R^*)` of a budget, given the bias and spread curves.

    Parameters
    ----------
    bias2 : numpy.ndarray
        :math:`b_t` for :math:`t = 0, \dots, T_{\max}`: a 1-d array of non-negative finite values,
        length at least 2.
    trace : numpy.ndarray
        :math:`\operatorname{tr} C_t`, of the same length and kind.
    budget : int
        The budget :math:`B \ge 1`.

    Returns
    -------
    n_chains : int
        :math:`N^*`.
    steps : int
        :math:`T^*` (ties go to the smallest :math:`T`).
    risk : float
        :math:`R^* = b_{T^*} + \operatorname{tr} C_{T^*} / N^*`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \min_{N, T \ge 1,\ N T \le B} \; b_T + \frac{\operatorname{tr} C_T}{N}.

    For each :math:`T` the best :math:`N` is :math:`\lfloor B / T \rfloor` (the risk falls with
    :math:`N`).
    """
    bias2, trace = np.asarray(bias2, dtype=float), np.asarray(trace, dtype=float)
    steps = np.arange(1, min(budget, len(bias2) - 1) + 1)
    risk = bias2[steps] + trace[steps] / (budget // steps)
    best = int(np.argmin(risk))
    return int(budget // steps[best]), int(steps[best]), float(risk[best])


def _split_fits(d, eta, level, budget, designs) -> bool:
    if eta * level**2 >= 1:
        return True  # refused by the rate condition
    steps = min(budget, _convergence_steps(eta, level))
    return steps <= MAX_STEPS and steps * (designs * d + _NODES) <= STEP_WORK


@declare(
    Accuracy(
        relative=1e-8,
        note="(N*, T*) exact for the terms of prompt_averaged_chain_terms (ties go to the"
        " smallest T); R* and its standard error as accurate as those terms",
    ),
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    eta=_ETA,
    level=_LEVEL,
    budget=Integer(1),
    psi2=_PSI2,
    designs=Integer(2, MAX_DESIGNS),
    seed=Integer(0),
    where=[
        _RANK,
        _RATE,
        _TYPICAL,
        _DESIGNS,
        Condition(
            f"T_max = min(B, ceil(60 / -log(1 - eta level^2))) <= {MAX_STEPS:.0e} and"
            f" T_max (designs d + {_NODES}) <= {STEP_WORK:.0e} (the chain terms are needed up to"
            " T_max)",
            _split_fits,
            {"eta": 0.01, "level": 0.01, "budget": 10**9},
        ),
    ],
)
def compute_optimal_split(
    n: int,
    d: int,
    sigma2: float,
    eta: float,
    level: float,
    budget: int,
    *,
    psi2: float = 1.0,
    designs: int = 4096,
    seed: int = 0,
) -> BudgetSplit:
    r"""The best split of a budget of :math:`B` chain-steps into :math:`N` chains of :math:`T`.

    The chains carry multiplicative noise; :math:`N, T` are integers with :math:`N T \le B`, chosen
    for the prompt-averaged risk of their average, :math:`\mathbb{E} b_T + \mathbb{E} v_T / N`
    (:func:`prompt_averaged_chain_terms`, typical designs; :math:`\mathbb{E} v_T` over a seeded
    design sample).

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^6`; :math:`\min(n, d) \le 256` (the eigenvalue
        density's range).
    d : int
        Dimension, :math:`1 \le d \le 10^6`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{12}`, with :math:`\eta \delta^2 < 1` (the slowest rate of
        the chain terms, :math:`-\log(1 - \eta \delta^2)`, is then the one at :math:`s = 0`) and
        :math:`P(\eta (s_{\max} + \delta^2) > 2) \le 10^{-7}` (:data:`TYPICAL`; almost every design
        is typical, as for :func:`icl.theory.expected_gd_risk`).
    level : float
        Multiplicative-noise level :math:`\delta`, :math:`0 < \delta \le 10^6`.
    budget : int
        The budget :math:`B \ge 1`, with :math:`T_{\max} = \min(B, \lceil 60 / -\log(1 - \eta
        \delta^2) \rceil) \le 10^5` and :math:`T_{\max} (\mathrm{designs} \cdot d + 11000) \le 6
        \cdot 10^8` (the chain terms are needed up to :math:`T_{\max}`).
    psi2 : float, optional
        Prior variance :math:`\psi^2`, :math:`0 < \psi^2 \le 10^{12}`; default 1.
    designs : int, optional
        Size of the design sample, :math:`2 \le \mathrm{designs} \le 10^6` (:data:`MAX_DESIGNS`),
        with :math:`\mathrm{designs} \, (n d^2 + d^3) \le 2 \cdot 10^9` (:data:`DESIGN_WORK`);
        default 4096.
    seed : int, optional
        Seed of ``numpy.random.default_rng`` for the design sample, :math:`\ge 0`; default 0.

    Returns
    -------
    BudgetSplit
        :math:`(N^*, T^*, R^*)` and the standard error of :math:`R^*` from the design sample.

    Raises
    ------
    ValueError
        Where :func:`prompt_averaged_chain_terms` raises, or if an argument lies outside its range
        (see "Domain and accuracy" below).

    Notes
    -----
    The search runs over every :math:`T \le T_{\max} = \min(B, \lceil 60 / r \rceil)`,
    :math:`r = -\log(1 - \eta \delta^2)` the slowest rate at which :math:`b_t` and :math:`v_t`
    converge (their remainders at :math:`\lceil 60 / r \rceil` are below :math:`e^{-60}` of their
    scale, so a longer chain only loses chains); for each :math:`T`, :math:`N = \lfloor B / T
    \rfloor`. The terms are computed only up to :math:`T_{\max}`, so any budget costs at most
    :math:`T_{\max}` steps of :func:`prompt_averaged_chain_terms` (the domain ends where that is too
    long).
    """
    t_max = min(budget, _convergence_steps(eta, level))
    terms = _chain_terms(n, d, sigma2, eta, level, t_max, psi2, designs, seed)
    n_star, t_star, risk = best_split(terms.bias2, terms.trace, budget)
    return BudgetSplit(n_star, t_star, risk, float(terms.trace_se[t_star] / n_star))


def _counts(name: str, value):
    counts = np.asarray(value)
    if isinstance(value, bool) or counts.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an int or an array of ints, got {value!r}")
    if counts.size == 0 or np.any(counts < 1):
        raise ValueError(f"{name} must hold integers >= 1")
    if counts.size > 10**7:
        raise ValueError(f"{name} must hold at most 1e7 counts")
    return value


@declare(
    Accuracy(relative=1e-14, note="log N - 1 + 1/N, no cancellation beyond a factor 4"),
    n_samples=Given("an int >= 1 or an array of them (at most 1e7)", check=_counts),
)
def best_of_n_kl(n_samples) -> float | np.ndarray:
    r"""The KL divergence of best-of-:math:`N` from the base sampler.

    For a score with a continuous law.

    Parameters
    ----------
    n_samples : int or array_like of int
        :math:`N \ge 1`, or an array of them (at most :math:`10^7`).

    Returns
    -------
    kl : float or numpy.ndarray
        :math:`\log N - (N - 1) / N`, a float or an array.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \mathrm{KL}(\text{best-of-}N \,\|\, \text{base}) = \log N - \frac{N - 1}{N}.

    The selected sample's score has density :math:`N (1 - F)^{N-1} f` (the minimum of :math:`N`), so
    the likelihood ratio is :math:`N (1 - U)^{N-1}` with :math:`U = F(\mathrm{score}) \sim
    \mathrm{Beta}(1, N)`, and :math:`\mathbb{E} \log(1 - U) = -1/N`.
    """
    counts = np.asarray(n_samples)
    if counts.ndim == 0:
        N = int(counts)
        return math.log(N) - (N - 1) / N
    return np.log(counts.astype(float)) - (counts - 1) / counts.astype(float)


SOFT_REWARDS = ("in-context loss", "norm")


def _log_abs(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.abs(x))


def _tilt(mean, tau, beta, curvature, center):
    """(tilted mean, tilted variance, the scale |h mean| + |(1 - h) center|) in log space: with
    r = 2 curvature tau^2 / beta, h = 1 / (1 + r) and 1 - h = r / (1 + r),
    tilted mean = h mean + (1 - h) center and tilted variance = tau^2 h."""
    with np.errstate(divide="ignore"):
        log_r = np.log(2 * curvature) + 2 * math.log(tau) - math.log(beta)  # -inf at curvature 0
    log_h = -np.logaddexp(0.0, log_r)
    log_g = -np.logaddexp(0.0, -log_r)
    own = np.sign(mean) * np.exp(_log_abs(mean) + log_h)
    pulled = np.sign(center) * np.exp(_log_abs(center) + log_g)
    variance = np.exp(2 * math.log(tau) + log_h)
    return own + pulled, variance, np.abs(own) + np.abs(pulled)


def _out(value):
    return float(value) if np.ndim(value) == 0 else value


@declare(
    Accuracy(
        relative=1e-12,
        absolute=1e-300,
        note="the variance to 1e-12 relative; the tilted mean h mean + (1 - h) center, a sum that"
        " can cancel, to 1e-12 of |h mean| + |(1 - h) center|; both in log space (no overflow"
        " for any tau, beta, curvature)",
    ),
    mean=Real(array=True),
    tau=Real(0.0, 1e150, open_low=True),
    beta=Real(0.0, None, open_low=True),
    curvature=Real(0.0, None, array=True),
    center=Real(array=True),
    where=[
        Condition(
            "mean, curvature and center broadcast together",
            lambda mean, curvature, center: _broadcasts(mean, curvature, center),
            {"mean": np.zeros(2), "center": np.zeros(3)},
        )
    ],
)
def soft_selection_tilt(mean, tau: float, beta: float, curvature, center):
    r"""The law of soft selection among :math:`N \to \infty` Gaussian candidates, quadratic score.

    The candidates are :math:`N(\mathrm{mean}, \tau^2)` in :math:`d = 1`, the weights
    :math:`e^{-\mathrm{score} / \beta}`, the score :math:`\mathrm{curvature} \, (w -
    \mathrm{center})^2` (+ const).

    Parameters
    ----------
    mean : float or array_like
        The candidates' mean (finite reals).
    tau : float
        The candidates' standard deviation, :math:`0 < \tau \le 10^{150}`.
    beta : float
        Temperature of the weights, :math:`\beta > 0`.
    curvature : float or array_like
        The score's curvature, :math:`\ge 0`.
    center : float or array_like
        The score's minimiser. ``mean``, ``curvature`` and ``center`` broadcast together
        (elementwise over numpy arrays).

    Returns
    -------
    tilted_mean : float or numpy.ndarray
        The mean of the selected sample's law.
    tilted_variance : float or numpy.ndarray
        Its variance.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Soft selection samples :math:`w_k` with probability proportional to
    :math:`e^{-\mathrm{score}(w_k) / \beta}`; as :math:`N` grows it samples the base law tilted by
    :math:`e^{-\mathrm{score} / \beta}`, which for a Gaussian base and a quadratic score is
    Gaussian, of precision :math:`1 / \tau^2 + 2 \, \mathrm{curvature} / \beta`:

    .. math::

        \text{tilted mean} &= \frac{\mathrm{mean} / \tau^2 + 2 \, \mathrm{curvature} \,
            \mathrm{center} / \beta}{\text{precision}}, \\
        \text{tilted variance} &= 1 / \text{precision}.

    Computed as tilted mean :math:`= h \, \mathrm{mean} + (1 - h) \, \mathrm{center}`, tilted
    variance :math:`= \tau^2 h`, with :math:`h = 1 / (1 + r)`,
    :math:`r = 2 \, \mathrm{curvature} \, \tau^2 / \beta`, in log space.
    """
    mean, center = np.asarray(mean, dtype=float), np.asarray(center, dtype=float)
    curvature = np.asarray(curvature, dtype=float)
    tilted_mean, variance, _ = _tilt(mean, tau, beta, curvature, center)
    return _out(tilted_mean), _out(variance)


def _broadcasts(*arrays) -> bool:
    try:
        np.broadcast(*[np.asarray(a) for a in arrays])
    except ValueError:
        return False
    return True


def _log_chi2_density(q: float, n: int) -> float:
    """log of the chi^2_n density at q > 0."""
    return (n / 2 - 1) * math.log(q) - q / 2 - special.gammaln(n / 2) - math.log(2) * n / 2


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _log1p_minus_ratio(x: float) -> float:
    """log(1 + x) - x / (1 + x) >= 0 without cancellation (a series for small x)."""
    if x < 1e-3:
        return x * x * (0.5 - x * (2 / 3 - x * (0.75 - x * 0.8)))
    return math.log1p(x) - x / (1 + x)


def _soft_parts(beta, tau, n, sigma2, eta, psi2):
    """(risk(S), KL(S)) given S = sum x_i^2 / n for the in-context loss, in log space where
    r = 2 tau^2 / beta or r S overflow (module docstring of soft_selection_1d_averaged)."""
    log_r = math.log(2) + 2 * math.log(tau) - math.log(beta)
    log_tau = math.log(tau)
    log_eta_plus_r = float(np.logaddexp(math.log(eta), log_r))

    def parts(S: float) -> tuple[float, float]:
        if S <= 0:
            return psi2 + 0.0 + tau * tau, 0.0
        log_rs = log_r + math.log(S)
        log_one_plus = _softplus(log_rs)  # log(1 + r S)
        shrink = math.exp(-log_one_plus)  # 1 / (1 + r S)
        gain = math.exp(log_eta_plus_r - log_one_plus)  # h = (eta + r) / (1 + r S)
        risk = (
            psi2 * ((eta * S - 1) * shrink) ** 2
            + gain * gain * sigma2 * S / n
            + math.exp(2 * log_tau - log_one_plus)
        )
        pull = math.exp(log_r - log_one_plus - log_tau)  # r / ((1 + r S) tau) = (h - eta) / ...
        rs = math.exp(min(log_rs, 700.0))
        kl = (
            _log1p_minus_ratio(rs)
            if log_rs < 700
            else log_rs + math.log1p(math.exp(-log_rs)) - math.exp(-_softplus(-log_rs))
        )
        kl += (pull * (1 - eta * S)) ** 2 * (psi2 * S * S + sigma2 * S / n)
        return risk, kl / 2

    return parts


@declare(
    Accuracy(
        relative=1e-9,
        note="norm reward: closed form (E S = 1, E S^2 = 1 + 2/n); in-context loss: adaptive"
        " quadrature over the chi^2_n law (1e-12 requested), split at the bulk and every decade"
        " from S = 0.1/r up",
    ),
    beta=Real(0.0, None, open_low=True),
    tau=Real(0.0, 1e100, open_low=True),
    n=Integer(1, 10**7),
    sigma2=Real(0.0, 1e100),
    eta=Real(0.0, 1e50, open_low=True),
    reward=Choice(SOFT_REWARDS),
    psi2=Real(0.0, 1e100, open_low=True),
)
def soft_selection_1d_averaged(
    beta: float, tau: float, *, n: int, sigma2: float, eta: float, reward: str, psi2: float = 1.0
) -> tuple[float, float]:
    r"""Prompt-averaged oracle risk and KL of soft selection, :math:`N \to \infty`.

    In Chapter 4's :math:`d = 1` setting. The risk is :math:`\mathbb{E}(w_{\mathrm{sel}} - w^*)^2`
    and the KL is from the base sampler; the weights are :math:`e^{-\mathrm{score} / \beta}`.

    Parameters
    ----------
    beta : float
        Temperature of the weights, :math:`\beta > 0`.
    tau : float
        The candidates' standard deviation, :math:`0 < \tau \le 10^{100}`.
    n : int
        Number of examples, :math:`1 \le n \le 10^7`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{100}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{50}`.
    reward : {"in-context loss", "norm"}
        The score.
    psi2 : float, optional
        Prior variance, :math:`0 < \psi^2 \le 10^{100}`; default 1.

    Returns
    -------
    risk : float
        :math:`\mathbb{E}(w_{\mathrm{sel}} - w^*)^2`, averaged over prompts.
    kl : float
        The KL divergence from the base sampler, averaged over prompts.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Prompt as in :func:`icl.theory.best_of_n_risk_1d_averaged`: :math:`S = \sum x_i^2 / n \sim
    \chi^2_n / n`, :math:`b = S w^* + \sqrt{\sigma^2 S / n} Z`, candidates :math:`N(m, \tau^2)` with
    :math:`m = \eta b`. The in-context loss is :math:`S (w - b / S)^2` + const, the norm reward
    :math:`w^2`: by :func:`soft_selection_tilt` the selected :math:`w` is :math:`N(h b, v)` given
    the prompt, with :math:`r = 2 \tau^2 / \beta` and

    .. math::

        \text{in-context loss:} \quad & h = \frac{\eta + r}{1 + r S}, \quad
            v = \frac{\tau^2}{1 + r S}; \\
        \text{norm:} \quad & h = \frac{\eta}{1 + r}, \quad v = \frac{\tau^2}{1 + r}.

    Given :math:`S`:

    .. math::

        \text{risk} &= \psi^2 (h S - 1)^2 + h^2 \sigma^2 S / n + v, \\
        \mathrm{KL} &= \tfrac12 \big[v / \tau^2 - 1 - \log(v / \tau^2)
            + (h - \eta)^2 (\psi^2 S^2 + \sigma^2 S / n) / \tau^2\big],

    where :math:`h S - 1 = (\eta S - 1) / (1 + r S)`, :math:`h - \eta = r (1 - \eta S) / (1 + r S)`
    and :math:`v / \tau^2 - 1 - \log(v / \tau^2) = \log(1 + r S) - r S / (1 + r S)` (no
    cancellation). For the norm reward both are quadratic in :math:`S` and average in closed form
    (:math:`\mathbb{E} S = 1`, :math:`\mathbb{E} S^2 = 1 + 2/n`); for the in-context loss they are
    averaged over :math:`S` by adaptive quadrature of the :math:`\chi^2_n` law
    (``scipy.integrate.quad``, :math:`10^{-12}` relative, split at the bulk of the law and every
    decade from :math:`S = 0.1/r` up).
    """
    if reward == "norm":
        log_r = math.log(2) + 2 * math.log(tau) - math.log(beta)
        keep = math.exp(-_softplus(log_r))  # 1 / (1 + r)
        moved = math.exp(-_softplus(-log_r))  # r / (1 + r)
        h = eta * keep
        second = 1 + 2 / n
        risk = psi2 * ((h - 1) ** 2 + 2 * h * h / n) + h * h * sigma2 / n + tau * tau * keep
        r = math.exp(min(log_r, 700.0))
        divergence = (
            _log1p_minus_ratio(r) if log_r < 700 else log_r + math.log1p(math.exp(-log_r)) - moved
        )
        divergence += (eta * moved / tau) ** 2 * (psi2 * second + sigma2 / n)
        return risk, divergence / 2
    parts = _soft_parts(beta, tau, n, sigma2, eta, psi2)
    sd = math.sqrt(2 / n)
    log_r = math.log(2) + 2 * math.log(tau) - math.log(beta)
    points = {max(1 - 12 * sd, 0.0), max(1 - 3 * sd, 0.0), 1.0, 1 + 3 * sd, 1 + 12 * sd}
    if log_r > -700:  # S = 1/r, where 1 + r S turns: a point every decade from 0.1/r up
        decades = np.arange(max(-log_r / math.log(10) - 1, -300), 1.0)
        points |= set((10.0**decades).tolist())
    edges = sorted(p for p in points if p > 0)
    edges = [0.0, *edges, 1 + 60 * sd + 60 / n, math.inf]
    out = []
    for k in range(2):

        def integrand(S, k=k):
            return parts(S)[k] * math.exp(math.log(n) + _log_chi2_density(n * S, n))

        out.append(
            sum(
                integrate.quad(integrand, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
                for lo, hi in zip(edges[:-1], edges[1:])
                if hi > lo
            )
        )
    return out[0], out[1]


def _spread_positive(d: int, sigma2: float) -> bool:
    return d >= 2 or sigma2 > 0


def _log_exponent(n: int, d: int, sigma2: float, eta: float, temperature: float):
    """(log c, log a): c = 2 eta / (n T), a = (1 + sqrt(1 + s2)) n T / (2 eta s2)."""
    s2 = d - 1 + sigma2
    log_c = math.log(2 * eta) - math.log(n) - math.log(temperature)
    return log_c, math.log1p(math.sqrt(1 + s2)) - log_c - math.log(s2)


def _rate_fits(n: int, d: int, sigma2: float, eta: float, temperature: float) -> bool:
    if d - 1 + sigma2 <= 0:
        return True  # refused by the spread condition
    log_c, log_a = _log_exponent(n, d, sigma2, eta, temperature)
    return log_c >= math.log(1e-150) and abs(log_a) <= math.log(1e300)


def _product(numerators, denominators) -> float:
    """prod(numerators) / prod(denominators) of positive floats, by mantissas and exponents (no
    overflow or underflow in between), each operation rounded once."""
    mantissa, exponent = 1.0, 0
    for x in numerators:
        m, e = math.frexp(x)
        mantissa, exponent = mantissa * m, exponent + e
    for x in denominators:
        m, e = math.frexp(x)
        mantissa, exponent = mantissa / m, exponent - e
    return math.ldexp(mantissa, exponent)


_SPREAD = Condition(
    "d >= 2 or sigma2 > 0 (the margin is variance-gamma)",
    _spread_positive,
    {"d": 1, "sigma2": 0.0},
)
_COVERAGE_RATE = Condition(
    "c = 2 eta / (n T) >= 1e-150 and 1e-300 <= a = (1 + sqrt(1 + s2)) n T / (2 eta s2) <="
    " 1e300, s2 = d - 1 + sigma2 (no underflow or overflow)",
    _rate_fits,
    {"eta": 1e-200, "temperature": 1e12},
)


@declare(
    Accuracy(relative=1e-14, note="the formula, rounded a few times"),
    n=Integer(1, 10**9),
    d=Integer(1, 10**9),
    sigma2=Real(0.0, 1e12),
    eta=Real(0.0, None, open_low=True),
    temperature=Real(0.0, None, open_low=True),
    where=[_SPREAD, _COVERAGE_RATE],
)
def coverage_exponents(n: int, d: int, sigma2: float, eta: float, temperature: float):
    r"""Exponents :math:`(a, b)` of the law :math:`1 - \mathrm{pass@}k \sim C k^{-a} (\log k)^b`.

    For one :math:`\pm 1` coefficient of Chapter 5's model sampled at temperature :math:`T`, as
    :math:`k \to \infty`.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^9`.
    d : int
        Dimension, :math:`1 \le d \le 10^9`; :math:`d \ge 2` or :math:`\sigma^2 > 0` (the margin
        is variance-gamma).
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`.
    eta : float
        Step size, :math:`\eta > 0`.
    temperature : float
        Sampling temperature :math:`T > 0`. With :math:`s_2 = d - 1 + \sigma^2`, :math:`c = 2 \eta /
        (n T) \ge 10^{-150}` and :math:`10^{-300} \le a = (1 + \sqrt{1 + s_2}) n T / (2 \eta s_2)
        \le 10^{300}` (no underflow or overflow).

    Returns
    -------
    a : float
        :math:`(1 + \sqrt{1 + s_2}) n T / (2 \eta s_2)`.
    b : float
        :math:`n/2 - 1`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    One sample is right with probability :math:`p = \operatorname{sigmoid}(c u)`,
    :math:`c = 2 \eta / (n T)`, :math:`u` the margin (:func:`icl.theory.margin_density`,
    variance-gamma with :math:`\lambda = n/2`, :math:`\alpha = \sqrt{1 + s_2} / s_2`,
    :math:`\beta = 1 / s_2`, :math:`s_2 = d - 1 + \sigma^2`), whose left tail is
    :math:`f(u) \sim K |u|^{\lambda-1} e^{-(\alpha+\beta)|u|}`. With :math:`q = e^{-c|u|} \sim p`,
    :math:`\mathbb{E}(1 - p)^k \sim \int q^{a-1} (\log 1/q)^{\lambda-1} e^{-kq} \, dq`, so

    .. math::

        a = \frac{\alpha + \beta}{c} = \frac{(1 + \sqrt{1 + s_2}) n T}{2 \eta s_2}, \qquad
        b = \frac{n}{2} - 1

    (:math:`a = (1 + \sqrt{1 + s_2}) / 2` at the calibrated temperature :math:`\eta s_2 / n`). The
    law needs :math:`(\log k) / c` far in the margin's left tail, beyond the bulk and beyond
    :math:`(n/2)^2 / \alpha`, where the Bessel function's asymptotic form holds.
    """
    s2 = d - 1 + sigma2
    a = _product([1 + math.sqrt(1 + s2), float(n), temperature], [2.0, eta, s2])
    return a, n / 2 - 1


def _k_values(name: str, value):
    counts = np.asarray(value)
    if isinstance(value, bool) or counts.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an int or an array of ints, got {value!r}")
    if counts.size == 0 or np.any(counts < 1):
        raise ValueError(f"{name} must hold integers >= 1")
    if counts.size > 1000:
        raise ValueError(f"{name} must hold at most 1000 values, got {counts.size}")
    return value


@declare(
    Accuracy(
        relative=1e-8,
        absolute=1e-300,
        note="adaptive quadrature in u (1e-11 requested on each panel, positive integrand)"
        " against the margin density of icl.theory.margin_density; below 1e-300 it may underflow",
    ),
    k=Given("an int >= 1 or an array of at most 1000 of them", check=_k_values),
    n=Integer(1, 10**4),
    d=Integer(1, 10**4),
    sigma2=Real(0.0, 1e6),
    eta=Real(0.0, None, open_low=True),
    temperature=Real(0.0, None, open_low=True),
    where=[_SPREAD, _COVERAGE_RATE],
)
def coverage_miss(k, n: int, d: int, sigma2: float, eta: float, temperature: float):
    r"""The probability :math:`1 - \mathrm{pass@}k` that none of :math:`k` samples is right.

    For one :math:`\pm 1` coefficient of Chapter 5's model (:math:`u` the margin,
    :func:`icl.theory.margin_density`), sampled at temperature :math:`T`.

    Parameters
    ----------
    k : int or array_like of int
        :math:`k \ge 1`, or an array of at most 1000 of them.
    n : int
        Number of examples, :math:`1 \le n \le 10^4`.
    d : int
        Dimension, :math:`1 \le d \le 10^4`; :math:`d \ge 2` or :math:`\sigma^2 > 0` (the margin
        is variance-gamma).
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^6`.
    eta : float
        Step size, :math:`\eta > 0`.
    temperature : float
        Sampling temperature :math:`T > 0`. With :math:`s_2 = d - 1 + \sigma^2`, :math:`c = 2 \eta /
        (n T) \ge 10^{-150}` and :math:`10^{-300} \le a = (1 + \sqrt{1 + s_2}) n T / (2 \eta s_2)
        \le 10^{300}` (no underflow or overflow).

    Returns
    -------
    miss : float or numpy.ndarray
        :math:`\mathbb{E}[(1 - \operatorname{sigmoid}(c u))^k]`, :math:`c = 2 \eta / (n T)`, of the
        shape of ``k``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        1 - \mathrm{pass@}k = \mathbb{E}\big[(1 - \operatorname{sigmoid}(c u))^k\big], \qquad
        c = \frac{2 \eta}{n T}.

    Adaptive quadrature in :math:`u`; the kernel :math:`\exp(-k \log(1 + e^{cu}))` is a smoothed
    step at :math:`u = -\log(k) / c` of width about :math:`1 / c`, which is given to the quadrature
    as break-points, with the margin's bulk, :math:`n \pm` 1, 3, 6, 12 and 40 times its standard
    deviation :math:`(n (2 + s_2))^{1/2}` (so that no panel holds the bulk at one end of a long
    stretch of nothing).
    """
    from icl.theory.binary_decoding import _margin_density_function

    ks = np.atleast_1d(np.asarray(k))
    c = 2 * eta / (n * temperature)
    s2 = d - 1 + sigma2
    width = math.sqrt(n * (2 + s2))
    margin = _margin_density_function(n, d, sigma2)
    out = []
    for kk in ks:

        def integrand(u, kk=int(kk)):
            cu = c * u  # log(1 + e^{cu}) = max(cu, 0) + log1p(e^{-|cu|})
            return margin(u) * math.exp(-kk * (max(cu, 0.0) + math.log1p(math.exp(-abs(cu)))))

        step = -math.log(kk) / c
        points = {step + j / c for j in (-30, -10, -3, -1, 0, 1, 3, 10)} | {-width, 0.0}
        points |= {n + j * width for j in (-12, -6, -3, -1, 0, 1, 3, 6, 12, 40)}
        edges = [-np.inf, *sorted(points), np.inf]
        out.append(
            sum(
                integrate.quad(integrand, lo, hi, limit=400, epsabs=0.0, epsrel=1e-11)[0]
                for lo, hi in zip(edges[:-1], edges[1:])
                if hi > lo
            )
        )
    values = np.array(out)
    return float(values[0]) if np.ndim(k) == 0 else values
