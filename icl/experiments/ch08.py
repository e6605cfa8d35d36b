"""The settings and experiments of Chapter 8, the test-time budget.

The chapter: ``book/ch08_test_time_budget.md``. Four sections, four settings: Chapter 3's
multiplicative-noise chains (:class:`ChainSetting`), Chapter 5's one coefficient
(:class:`CoinSetting`), Chapter 4's one-dimensional one-step model (:class:`LineSetting`), and the
summary panels that reuse all three. Each sampler has the signature ``(batch, generator) ->
tensor`` that :func:`icl.harness.montecarlo.estimate_mean` expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy import optimize, special

from icl import runtime, tasks, theory, validation
from icl.decoders.gd_chains import sample_chains

Sampler = Callable[[int, torch.Generator], torch.Tensor]
REWARDS = ("in-context loss", "norm")


# --------------------------------------------------------------------------------------------
# Longer chains or more chains
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainSetting:
    """Chapter 3's multiplicative-noise chains: ``n`` examples in ``d`` dimensions, label noise
    ``sigma2``, step ``eta`` and noise level ``level`` (the ridge penalty is ``level**2``)."""

    n: int = 8
    d: int = 5
    sigma2: float = 0.5
    eta: float = 0.1
    level: float = 0.5

    def __post_init__(self) -> None:
        validation.integer("n", self.n)
        validation.integer("d", self.d)
        validation.positive("sigma2", self.sigma2)
        validation.positive("eta", self.eta)
        validation.positive("level", self.level)

    @property
    def params(self) -> dict:
        """The fields as keyword arguments of the ``theory`` functions."""
        return asdict(self)

    @property
    def delta2(self) -> float:
        """The ridge penalty :math:`\\delta^2` of the chain's mean."""
        return self.level**2


@dataclass(frozen=True)
class SplitsOverBudgets:
    """The prompt-averaged terms of the chains and the optimal split at every budget of a grid."""

    setting: ChainSetting
    terms: object  # theory.prompt_averaged_chain_terms(...)
    b_inf: float
    v_inf: float
    quad_gap: float
    budgets: np.ndarray
    n_star: np.ndarray
    t_star: np.ndarray
    r_star: np.ndarray
    t_max: int

    def index(self, budget: int) -> int:
        """The position of ``budget`` in :attr:`budgets`."""
        return int(np.nonzero(self.budgets == budget)[0][0])

    def think_longer(self, budget: int) -> float:
        """The risk of one noisy chain of ``budget`` steps, :math:`\\bar b_B + \\bar v_B`."""
        t = min(budget, self.t_max)
        return self.terms.bias2[t] + self.terms.trace[t]

    def sample_more(self, budget: int, steps: int) -> float:
        """The risk of :math:`\\lfloor B/T \\rfloor` averaged chains of ``steps`` steps (NaN when
        ``budget < steps``)."""
        if budget < steps:
            return np.nan
        return self.terms.bias2[steps] + self.terms.trace[steps] / (budget // steps)


def budget_split(setting: ChainSetting, t_max: int = 2400) -> SplitsOverBudgets:
    """The optimal split of a budget of chain-steps into ``N`` chains of ``T`` steps.

    Parameters
    ----------
    setting : ChainSetting
        The chains.
    t_max : int
        The longest chain the search considers.

    Returns
    -------
    SplitsOverBudgets
        The terms :math:`\\bar b_T, \\bar v_T` for ``T <= t_max``, the limits
        :math:`b_\\infty, V_\\infty`, the largest relative gap of the bias quadrature from
        ``theory.gd_risk_parts`` at four ``T``, and the optimum at 51 budgets from 10 to 1e6.

    Notes
    -----
    :math:`R(N, T) = \\bar b_T + \\bar v_T / N`, minimised over ``T`` with
    :math:`N = \\lfloor B/T \\rfloor`.
    """
    s = setting
    terms = theory.prompt_averaged_chain_terms(**s.params, steps=t_max)
    b_inf = theory.ridge_limit_risk(**s.params)
    quad_gap = max(
        abs(
            terms.bias2[T]
            / theory.gd_risk_parts(s.n, s.d, s.sigma2, s.eta, T, lam=s.delta2).typical
            - 1
        )
        for T in (1, 30, 300, t_max)
    )
    budgets = np.unique(np.round(np.logspace(1, 6, 51)).astype(int))
    best = np.array([theory.best_split(terms.bias2, terms.trace, B) for B in budgets])
    return SplitsOverBudgets(
        setting=s,
        terms=terms,
        b_inf=b_inf,
        v_inf=terms.trace[-1],
        quad_gap=quad_gap,
        budgets=budgets,
        n_star=best[:, 0].astype(int),
        t_star=best[:, 1].astype(int),
        r_star=best[:, 2],
        t_max=t_max,
    )


@dataclass(frozen=True)
class SplitLaw:
    """The asymptotic law (ch8-tstar) of the optimal split, on the budgets of a split."""

    gamma: float
    rate: float
    c0: float
    a_coef: float
    t_law: np.ndarray
    excess_law: np.ndarray
    t_guess: np.ndarray
    distance: float  # largest |T* - law| / T* for B >= 1000
    resolution: float  # 1 / min T* for B >= 1000
    slope: float  # dT*/dlog B fitted over B = 1e5..1e6
    slope_law: float
    slope_guess: float

    def table(self, split: SplitsOverBudgets) -> str:
        """T* against the law and the guess, and the excess risk against the law and its
        leading form, at B = 1e3 .. 1e6."""
        rows = ["     B    T*  law  guess   (R*-b_inf)/law  (R*-b_inf)/[(V/r) log B/B]"]
        for B in (10**3, 10**4, 10**5, 10**6):
            i = split.index(B)
            excess = split.r_star[i] - split.b_inf
            lead = split.v_inf / self.rate * np.log(split.budgets)[i] / B
            rows.append(
                f"{B:>7} {split.t_star[i]:>4} {self.t_law[i]:5.0f} {self.t_guess[i]:5.0f}"
                f"   {excess / self.excess_law[i]:.3f}"
                f"            {excess / lead:.3f}"
            )
        return "\n".join(rows)


def split_law(split: SplitsOverBudgets) -> SplitLaw:
    """The law (ch8-tstar) of :math:`T^*(B)` and :math:`R^*(B) - b_\\infty`.

    Parameters
    ----------
    split : SplitsOverBudgets
        The computed optimum.

    Returns
    -------
    SplitLaw
        The law's constants, its curves on ``split.budgets``, the natural guess
        :math:`\\log B / (2\\eta\\delta^2)`, and the distance of the computed ``T*`` from the law.

    Notes
    -----
    :math:`T^* = [\\log B - \\gamma \\log\\log B + \\log(A r^{1+\\gamma}/V_\\infty)]/r` with
    :math:`r = -\\log(1 - \\eta\\delta^2)`, :math:`\\gamma = (|n - d| - 1)/2 + 2` and
    :math:`R^* - b_\\infty = V_\\infty (r T^* + 1)/(r B)`.
    """
    s, delta2, eta = split.setting, split.setting.delta2, split.setting.eta
    alpha = (abs(s.n - s.d) - 1) / 2
    gamma, q = alpha + 2, 1 - eta * delta2
    rate = -math.log(q)
    c0 = theory.wishart_eigenvalue_density(1e-8, s.n, s.d) / 1e-8**alpha
    a_coef = 2 * (delta2 - s.sigma2 / s.n) / delta2**2 * c0 * math.gamma(gamma) * (q / eta) ** gamma
    budgets, t_star = split.budgets, split.t_star
    log_b = np.log(budgets)
    t_law = (
        log_b - gamma * np.log(log_b) + math.log(a_coef * rate ** (1 + gamma) / split.v_inf)
    ) / rate
    large, far = budgets >= 1000, budgets >= 10**5
    return SplitLaw(
        gamma=gamma,
        rate=rate,
        c0=c0,
        a_coef=a_coef,
        t_law=t_law,
        excess_law=split.v_inf / (rate * budgets) * (rate * t_law + 1),
        t_guess=log_b / (2 * eta * delta2),
        distance=float(np.max(np.abs(t_star - t_law)[large] / t_star[large])),
        resolution=1.0 / t_star[large].min(),
        slope=np.polyfit(log_b[far], t_star[far], 1)[0],
        slope_law=(1 - gamma / np.log(10**5.5)) / rate,
        slope_guess=1 / (2 * eta * delta2),
    )


def chain_prompts(setting: ChainSetting, batch: int, g: torch.Generator) -> tasks.Prompts:
    """``batch`` Gaussian prompts of the chains' setting, on the run's device and dtype.

    Parameters
    ----------
    setting : ChainSetting
        The chains (``n``, ``d`` and ``sigma2`` are used).
    batch : int
        Prompts.
    g : torch.Generator
        The random generator.

    Returns
    -------
    tasks.Prompts
        The prompts.
    """
    return tasks.sample_prompts(
        batch,
        setting.n,
        setting.d,
        sigma2=setting.sigma2,
        generator=g,
        device=runtime.device(),
        dtype=runtime.dtype(),
    )


def exact_risk_sampler(setting: ChainSetting, n_chains: int, steps: int) -> Sampler:
    """A sampler of the exact per-prompt risk of averaged chains.

    Parameters
    ----------
    setting : ChainSetting
        The chains.
    n_chains : int
        Chains averaged.
    steps : int
        Steps of each chain.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, the risk of ``n_chains`` averaged chains
        of ``steps`` steps (``theory.averaged_chain_risk``), 0 on a design with
        :math:`\\eta(s_{\\max} + \\delta^2) > 2`.
    """
    s = setting

    def sample(batch, g):
        p = chain_prompts(s, batch, g)
        risk = theory.averaged_chain_risk(
            p.X, p.y, p.w, eta=s.eta, steps=steps, level=s.level, n_chains=n_chains
        )
        s_max = torch.linalg.eigvalsh(p.X.transpose(1, 2) @ p.X / s.n)[:, -1]
        return torch.where(s.eta * (s_max + s.delta2) <= 2, risk, torch.zeros_like(risk))

    return sample


def average_spread_sampler(setting: ChainSetting, n_chains: int, steps: int) -> Sampler:
    """A sampler of the spread of averaged simulated chains about their exact mean.

    Parameters
    ----------
    setting : ChainSetting
        The chains.
    n_chains : int
        Chains averaged, :math:`N`.
    steps : int
        Steps of each chain, :math:`T`.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor`` of shape ``(batch, 4)``: per prompt, the spread
        :math:`\\lVert \\bar w - m_T \\rVert^2` of the average of ``n_chains`` simulated chains
        about the exact mean, :math:`\\operatorname{tr} C_T/N`, and the wrong forms
        :math:`\\operatorname{tr} C_T` and :math:`\\operatorname{tr} C_T/(N+1)`.
    """
    s = setting

    def sample(batch, g):
        p = chain_prompts(s, batch, g)
        w_avg = sample_chains(
            p.X,
            p.y,
            eta=s.eta,
            steps=steps,
            n_chains=n_chains,
            noise="multiplicative",
            level=s.level,
            generator=g,
        ).mean(1)
        mean = theory.chain_mean(
            p.X, p.y, eta=s.eta, steps=steps, noise="multiplicative", level=s.level
        )
        _, trace = theory.chain_risk_terms(p.X, p.y, p.w, eta=s.eta, steps=steps, level=s.level)
        spread = ((w_avg - mean) ** 2).sum(1)
        return torch.stack([spread, trace / n_chains, trace, trace / (n_chains + 1)], 1)

    return sample


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoinSetting:
    """Chapter 5's one +-1 coefficient decoded at a temperature: ``n`` examples, ``d``
    coefficients, label noise ``sigma2``, step ``eta``."""

    n: int = 20
    d: int = 10
    sigma2: float = 0.25
    eta: float = 1.0

    def __post_init__(self) -> None:
        validation.integer("n", self.n)
        validation.integer("d", self.d)
        validation.positive("sigma2", self.sigma2)
        validation.positive("eta", self.eta)

    @property
    def params(self) -> dict:
        """The fields as keyword arguments of the ``theory`` functions."""
        return asdict(self)

    @property
    def t_cal(self) -> float:
        """The calibrated temperature :math:`\\eta s^2 / n`."""
        return theory.calibration_temperature(**self.params)

    @property
    def s2(self) -> float:
        """The margin's scale :math:`s^2 = d - 1 + \\sigma^2`."""
        return self.d - 1 + self.sigma2


@dataclass(frozen=True)
class CoverageFit:
    """The exact miss probability at :math:`T_{\\rm cal}` on a grid of ``k``, with the derived
    exponents and the fits over ``k >= 1000``."""

    setting: CoinSetting
    k_grid: np.ndarray
    miss: np.ndarray
    a: float
    b: float
    fit: np.ndarray  # (-a, b, constant) of log miss against (log k, log log k, 1)
    fit_cov: np.ndarray
    slope: float  # a plain power law's slope

    def describe(self) -> str:
        """The derived and fitted exponents, one line."""
        return (
            f"n = {self.setting.n:>2}, T = T_cal = {self.setting.t_cal:.4f}: derived a = "
            f"{self.a:.4f}, b = {self.b:.0f}; over k = 1e3..1e8 fitted k^-a (log k)^b: "
            f"a = {-self.fit[0]:.4f}, b = {self.fit[1]:.2f}; plain power-law slope "
            f"{self.slope:.3f}"
        )


def coverage_fit(setting: CoinSetting, k_grid: np.ndarray) -> CoverageFit:
    """The miss probability :math:`M_k(T_{\\rm cal})` on ``k_grid`` and its fitted exponents.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    k_grid : numpy.ndarray
        Numbers of samples (integers >= 1), reaching beyond 1000.

    Returns
    -------
    CoverageFit
        The exact curve, the exponents of (ch8-coverage-law), a least-squares fit of
        :math:`\\log M_k = -a \\log k + b \\log\\log k + C` over ``k >= 1000`` with its covariance,
        and a plain power law's slope there.

    Notes
    -----
    :math:`1 - \\text{pass@}k \\asymp C k^{-a} (\\log k)^b`.
    """
    c, t_cal = setting.params, setting.t_cal
    miss = theory.coverage_miss(k_grid, **c, temperature=t_cal)
    a, b = theory.coverage_exponents(**c, temperature=t_cal)
    far = k_grid >= 1000
    lk = np.log(k_grid[far])
    slope = np.polyfit(lk, np.log(miss[far]), 1)[0]
    design = np.stack([lk, np.log(lk), np.ones_like(lk)], 1)
    fit, residual = np.linalg.lstsq(design, np.log(miss[far]), rcond=None)[:2]
    fit_cov = residual[0] / (len(lk) - 3) * np.linalg.inv(design.T @ design)
    return CoverageFit(setting, k_grid, miss, a, b, fit, fit_cov, slope)


@dataclass(frozen=True)
class BestTemperature:
    """The temperature that minimises the miss probability of ``k`` samples, found numerically."""

    k: int
    t_over_cal: float
    miss: float
    guess: float  # 2^-k (1 + 1/s^2)^(-n/2)
    miss_at_cal: float

    @property
    def guessing_off(self) -> float:
        """The approximation :math:`2^{-k}(1 + 1/s^2)^{-n/2}` over the exact minimum, minus 1."""
        return self.guess / self.miss - 1

    def describe(self) -> str:
        """The optimum against the law ``k - 1``, one line."""
        return (
            f"k = {self.k:>2}: best T / T_cal = {self.t_over_cal:.5f} (law k - 1 = {self.k - 1}), "
            f"miss {self.miss:.3e}, 2^-k (1 + 1/s^2)^(-n/2) = {self.guess:.3e}, at T_cal "
            f"{self.miss_at_cal:.3e}"
        )


def best_temperature(setting: CoinSetting, k: int) -> BestTemperature:
    """The best temperature for ``k`` samples with a perfect verifier, by bounded search in
    :math:`\\log T` over :math:`[T_{\\rm cal}/10, 10 k T_{\\rm cal}]`.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    k : int
        The number of samples, >= 2.

    Returns
    -------
    BestTemperature
        The optimum over :math:`T_{\\rm cal}`, the miss there, the blind-guessing approximation
        and the miss at :math:`T_{\\rm cal}`.

    Notes
    -----
    (ch8-coverage-temperature): :math:`T^*(k) = (k - 1) T_{\\rm cal}`.
    """
    c, t_cal = setting.params, setting.t_cal

    def log_miss(lt):
        return math.log(theory.coverage_miss(k, **c, temperature=math.exp(lt)))

    found = optimize.minimize_scalar(
        log_miss, bounds=(math.log(t_cal / 10), math.log(10 * k * t_cal)), method="bounded"
    )
    return BestTemperature(
        k=k,
        t_over_cal=math.exp(found.x) / t_cal,
        miss=math.exp(found.fun),
        guess=2.0**-k * (1 + 1 / setting.s2) ** (-setting.n / 2),
        miss_at_cal=theory.coverage_miss(k, **c, temperature=t_cal),
    )


def coin_prompts(setting: CoinSetting, batch: int, g: torch.Generator):
    """Rademacher prompts of the coefficient's setting and their one-step margins.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    batch : int
        Prompts.
    g : torch.Generator
        The random generator.

    Returns
    -------
    tuple
        The prompts (``tasks.Prompts``, on the run's device and dtype) and the one-step margins
        :math:`\\hat w_j w_j` (``(batch, d)``).
    """
    p = tasks.sample_prompts(
        batch,
        setting.n,
        setting.d,
        prior="rademacher",
        sigma2=setting.sigma2,
        generator=g,
        device=runtime.device(),
        dtype=runtime.dtype(),
    )
    w_hat = setting.eta * (p.X.transpose(1, 2) @ p.y.unsqueeze(-1))[..., 0] / setting.n
    return p, w_hat * p.w


def coverage_miss_sampler(setting: CoinSetting, temperature: float, k: int) -> Sampler:
    """A sampler of the exact miss probability of ``k`` samples given the prompt.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    temperature : float
        The sampling temperature :math:`T`.
    k : int
        Samples.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, :math:`(1 - p)^k` averaged over its ``d``
        coefficients, :math:`p = \\sigma(2 \\hat w_j w_j / T)`.
    """

    def sample(batch, g):
        _, margin = coin_prompts(setting, batch, g)
        right = torch.sigmoid(2 * margin / temperature)
        return ((1 - right) ** k).mean(1)

    return sample


def gl_panels(breaks: np.ndarray, m: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights, ``m`` per panel, between consecutive breaks.

    Parameters
    ----------
    breaks : numpy.ndarray
        Panel ends, shape ``(..., B)``, increasing along the last axis.
    m : int
        Nodes per panel.

    Returns
    -------
    tuple of numpy.ndarray
        Nodes and weights, shape ``(..., m (B - 1))``.
    """
    nodes, weights = np.polynomial.legendre.leggauss(m)
    lo, hi = breaks[..., :-1, None], breaks[..., 1:, None]
    half, shape = (hi - lo) / 2, (*breaks.shape[:-1], -1)
    return ((lo + hi) / 2 + half * nodes).reshape(shape), (half * weights).reshape(shape)


def coverage_miss_by_panels(
    setting: CoinSetting, k: int, temperature: float, panels: int = 400
) -> float:
    """A second quadrature of the miss probability :math:`\\mathbb{E}(1 - p)^k`.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    k : int
        Samples.
    temperature : float
        The sampling temperature.
    panels : int
        Geometric panels in :math:`|u|`.

    Returns
    -------
    float
        The miss probability.

    Notes
    -----
    16 Gauss-Legendre nodes on each of ``panels`` geometric panels in :math:`|u|` from 1e-12 to
    :math:`n + 80\\sqrt{n(2 + s^2)}`, on both sides of 0, against the margin's density.
    """
    n, d, sigma2 = setting.n, setting.d, setting.sigma2
    top = n + 80 * math.sqrt(n * (2 + d - 1 + sigma2))
    u, w = gl_panels(np.geomspace(1e-12, top, panels + 1), 16)
    c = 2 * setting.eta / (n * temperature)
    return sum(
        w
        @ (
            theory.margin_density(side * u, n, d, sigma2)
            * np.exp(k * special.log_expit(-c * side * u))
        )
        for side in (1.0, -1.0)
    )


def coverage_curves(setting: CoinSetting, ks: np.ndarray) -> dict[str, np.ndarray]:
    """The miss probability of ``k`` samples at two temperatures, for each ``k`` of ``ks``.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    ks : numpy.ndarray
        Numbers of samples.

    Returns
    -------
    dict
        Label -> miss probabilities: at :math:`T_{\\rm cal}` (``"T = T_cal"``) and at the best
        temperature :math:`\\max(k - 1, 0.05)\\,T_{\\rm cal}` (``"T = (k - 1) T_cal (best)"``).
    """
    c, t_cal = setting.params, setting.t_cal
    return {
        "T = T_cal": np.array([theory.coverage_miss(k, **c, temperature=t_cal) for k in ks]),
        "T = (k - 1) T_cal (best)": np.array(
            [theory.coverage_miss(k, **c, temperature=max(k - 1, 0.05) * t_cal) for k in ks]
        ),
    }


# --------------------------------------------------------------------------------------------
# Over-optimising a reward
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSetting:
    """Chapter 4's one-dimensional model: ``n`` examples, label noise ``sigma2``, one GD step
    ``eta`` (by default the optimal :math:`6/11`), candidates :math:`m + \\tau Z`."""

    n: int = 6
    sigma2: float = 3.0
    eta: float = field(default_factory=lambda: theory.optimal_step(6, 1, 3.0))
    tau: float = 0.3

    def __post_init__(self) -> None:
        validation.integer("n", self.n)
        validation.positive("sigma2", self.sigma2)
        validation.positive("eta", self.eta)
        validation.positive("tau", self.tau)

    @property
    def params(self) -> dict:
        """``n``, ``sigma2``, ``eta`` as keyword arguments of the ``theory`` functions."""
        return dict(n=self.n, sigma2=self.sigma2, eta=self.eta)

    def soft(self, reward: str, beta: float) -> tuple[float, float]:
        """Soft selection's prompt-averaged oracle risk and KL at ``beta`` (``N -> inf``)."""
        return theory.soft_selection_1d_averaged(beta, self.tau, reward=reward, **self.params)


def line_candidates(setting: LineSetting, batch: int, g: torch.Generator, count: int):
    """Prompts (d = 1) and ``count`` one-step candidates :math:`m + \\tau Z` per prompt.

    Parameters
    ----------
    setting : LineSetting
        The model.
    batch : int
        Prompts.
    g : torch.Generator
        The random generator.
    count : int
        Candidates per prompt.

    Returns
    -------
    tuple of torch.Tensor
        ``(S, b, w_true, m, w)``: :math:`S = \\sum x_i^2/n`, :math:`b = \\sum x_i y_i / n`, the
        true coefficient, the step :math:`m = \\eta b`, and the candidates ``(batch, count)``.
    """
    dev, dt = runtime.device(), runtime.dtype()
    p = tasks.sample_prompts(
        batch, setting.n, 1, sigma2=setting.sigma2, generator=g, device=dev, dtype=dt
    )
    S = (p.X[..., 0] ** 2).sum(1) / setting.n
    b = (p.X[..., 0] * p.y).sum(1) / setting.n
    m = setting.eta * b
    w = m[:, None] + setting.tau * torch.randn(batch, count, generator=g, device=dev, dtype=dt)
    return S, b, p.w[:, 0], m, w


def score(reward: str, S: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The score of each candidate (lower is better).

    Parameters
    ----------
    reward : str
        ``"in-context loss"``, or any other value for the norm.
    S : torch.Tensor
        :math:`\\sum x_i^2/n` per prompt, ``(batch,)``.
    b : torch.Tensor
        :math:`\\sum x_i y_i/n` per prompt, ``(batch,)``.
    w : torch.Tensor
        The candidates, ``(batch, count)``.

    Returns
    -------
    torch.Tensor
        ``(batch, count)``: the in-context loss :math:`S (w - b/S)^2` (up to a constant), or
        the norm :math:`w^2`.
    """
    return S[:, None] * (w - (b / S)[:, None]) ** 2 if reward == "in-context loss" else w**2


def best_of_n_kl_sampler(setting: LineSetting, n_cand: int) -> Sampler:
    """A sampler of the log-likelihood ratio of best-of-N by the in-context loss.

    Parameters
    ----------
    setting : LineSetting
        The model.
    n_cand : int
        Candidates, :math:`N`.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, :math:`\\log N + (N - 1)\\log(1 - U)` for
        the best of ``n_cand`` candidates, :math:`U = F(\\text{score})` given the prompt.
    """
    tau = setting.tau

    def sample(batch, g):
        S, b, _, m, w = line_candidates(setting, batch, g, n_cand)
        t = ((b / S - m) / tau)[:, None]
        z = (w - m[:, None]) / tau
        r = (z - t).abs().min(1, keepdim=True).values  # the selected candidate's distance
        F = torch.special.ndtr(t + r) - torch.special.ndtr(t - r)  # P(score <= selected score)
        return (math.log(n_cand) + (n_cand - 1) * torch.log1p(-F))[:, 0]

    return sample


def _r_rule(kappa, a, x, nodes=8):
    """Nodes and weights in r = |z - zc| (a = |zc|) for each x (P, L): panels at the kernel's step
    kappa r^2 = x, around a and around the tilt's peak a / (1 + 2 kappa), up to a + 12."""
    k, a_, s = kappa[:, None], a[:, None], (1 + 2 * kappa[:, None]) ** -0.5
    top = np.broadcast_to(a_ + 12, x.shape)
    step, width = np.sqrt(np.clip(x, 0, None) / k), 0.5 / np.sqrt(k * np.clip(x, 1, None))
    breaks = [0 * x, top] + [step + c * width for c in (-8, -3, -1, 1, 3, 8)]
    breaks += [a_ + c + 0 * x for c in (-4, -1.5, 1.5, 4)]
    breaks += [a_ * s**2 + c * s + 0 * x for c in (-4, -1.5, 1.5, 4)]
    return gl_panels(np.sort(np.clip(np.stack(breaks, -1), 0, top[..., None]), -1), nodes)


def _x_range(kappa, a, N):
    """From N e^x E[e^-v] = 1e-13 to 4 above the x with P(v <= x - 4) = 40 / (N - 1)."""
    log_mean_u = -0.5 * np.log1p(2 * kappa) - kappa * a**2 / (1 + 2 * kappa)
    lo, hi = np.zeros_like(a), a + 40  # bisection on the radius rho of P(|z - a| <= rho)
    for _ in range(60):
        mid = (lo + hi) / 2
        short = special.ndtr(mid - a) - special.ndtr(-a - mid) < 40 / (N - 1)
        lo, hi = np.where(short, mid, lo), np.where(short, hi, mid)
    return math.log(1e-13 / N) - log_mean_u, kappa * hi**2 + 4


def selection_moments(
    kappa: np.ndarray, zc: np.ndarray, N: int, x_panels: int = 12, nodes: int = 8
):
    """The moments :math:`M_0, M_1, M_2` of (ch8-finite-n) for soft selection among ``N``.

    Parameters
    ----------
    kappa : numpy.ndarray
        Per prompt, :math:`\\kappa` of the score :math:`v = \\kappa (z - z_c)^2` of a candidate
        :math:`m + \\tau z`, shape ``(P,)``.
    zc : numpy.ndarray
        Per prompt, :math:`z_c` of that score, shape ``(P,)``.
    N : int
        Candidates.
    x_panels : int
        Panels in :math:`x`.
    nodes : int
        Gauss-Legendre nodes per panel.

    Returns
    -------
    tuple of numpy.ndarray
        :math:`(M_0, M_1, M_2)`, each ``(P,)``; :math:`M_0 = 1` tests the rule.

    Notes
    -----
    :math:`M_j = N \\int \\mathbb{E}[z^j h(x - v)] (1 - F(x))^{N-1} dx`,
    :math:`h(y) = e^{y - e^y}`, :math:`F(x) = \\mathbb{E}[1 - \\exp(-e^{x - v})]`.
    """
    a, sign = np.abs(zc), np.where(zc < 0, -1.0, 1.0)
    x_lo, x_hi = _x_range(kappa, a, N)
    x, wx = gl_panels(
        x_lo[:, None] + np.linspace(0, 1, x_panels + 1) * (x_hi - x_lo)[:, None], nodes
    )
    r, wr = _r_rule(kappa, a, x, nodes)
    y = x[..., None] - kappa[:, None, None] * r**2
    e = np.exp(np.minimum(y, 700))
    survive_one = np.exp(-e)  # a candidate with this z keeps X > x with this probability
    z = [a[:, None, None] + r, a[:, None, None] - r]  # the two z with |z - zc| = r (zc >= 0)
    dens = [np.exp(-(zz**2) / 2) / math.sqrt(2 * math.pi) * wr for zz in z]
    F = ((dens[0] + dens[1]) * (1 - survive_one)).sum(-1)
    with np.errstate(divide="ignore"):  # F = 1: (1 - F)^(N - 1) = 0
        weight = N * wx * np.exp((N - 1) * np.log1p(-np.minimum(F, 1)))
    h = e * survive_one  # h(x - v)
    M = [
        (weight * ((dens[0] * z[0] ** j + dens[1] * z[1] ** j) * h).sum(-1)).sum(-1)
        for j in range(3)
    ]
    return M[0], sign * M[1], M[2]


def tilt_moments(kappa: np.ndarray, zc: np.ndarray, nodes: int = 8):
    """The tilt's moments :math:`E_\\infty[z^j] = \\mathbb{E}[z^j e^{-v}]/\\mathbb{E}[e^{-v}]`,
    ``j = 1, 2``, by the panels of :func:`selection_moments` (in log space).

    Parameters
    ----------
    kappa : numpy.ndarray
        Per prompt, :math:`\\kappa` of the score :math:`v = \\kappa (z - z_c)^2`, shape ``(P,)``.
    zc : numpy.ndarray
        Per prompt, :math:`z_c` of that score, shape ``(P,)``.
    nodes : int
        Gauss-Legendre nodes per panel.

    Returns
    -------
    tuple of numpy.ndarray
        :math:`(E_\\infty[z], E_\\infty[z^2])`.
    """
    a, sign = np.abs(zc), np.where(zc < 0, -1.0, 1.0)
    r, wr = (v[:, 0] for v in _r_rule(kappa, a, np.full((len(a), 1), -50.0), nodes))
    z = [a[:, None] + r, a[:, None] - r]
    logs = [-(zz**2) / 2 - kappa[:, None] * r**2 for zz in z]
    top = np.maximum(logs[0].max(1), logs[1].max(1))[:, None]
    w = [wr * np.exp(lg - top) for lg in logs]

    def moment(j):
        return (w[0] * z[0] ** j + w[1] * z[1] ** j).sum(1) / (w[0] + w[1]).sum(1)

    return sign * moment(1), moment(2)


def finite_n_correction(setting: LineSetting, reward: str, beta: float, S, b, w_true, m, N, **rule):
    """Per prompt, :math:`E_N - E_\\infty` of the loss :math:`(w - w^*)^2` of soft selection
    among ``N`` candidates, and :math:`M_0`.

    Parameters
    ----------
    setting : LineSetting
        The model.
    reward : str
        ``"in-context loss"`` or ``"norm"``.
    beta : float
        The selection's temperature.
    S : torch.Tensor
        The prompts' :math:`S = \\sum x_i^2/n`, as :func:`line_candidates` returns it.
    b : torch.Tensor
        The prompts' :math:`b = \\sum x_i y_i / n`, as :func:`line_candidates` returns it.
    w_true : torch.Tensor
        The true coefficients, as :func:`line_candidates` returns them.
    m : torch.Tensor
        The steps :math:`m = \\eta b`, as :func:`line_candidates` returns them.
    N : int
        Candidates.
    **rule
        ``x_panels`` and ``nodes`` of :func:`selection_moments`.

    Returns
    -------
    tuple
        The correction (a tensor on the run's device and dtype) and :math:`M_0` (an array).

    Notes
    -----
    With :math:`R = (m - w^* + \\tau z)^2`:
    :math:`E_N - E_\\infty = 2\\tau(m - w^*)(M_1 - T_1) + \\tau^2 (M_2 - T_2)`.
    """
    tau = setting.tau
    S, b, w_true, m = (v.cpu().double().numpy() for v in (S, b, w_true, m))
    if reward == "in-context loss":
        kappa, zc = S * tau**2 / beta, (b / S - m) / tau
    else:
        kappa, zc = np.full_like(S, tau**2 / beta), -m / tau
    chunks = [slice(i, i + 100) for i in range(0, len(S), 100)]
    M0, M1, M2 = (
        np.concatenate(v)
        for v in zip(*(selection_moments(kappa[c], zc[c], N, **rule) for c in chunks))
    )
    T1, T2 = tilt_moments(kappa, zc, rule.get("nodes", 8))
    correction = 2 * tau * (m - w_true) * (M1 - T1) + tau**2 * (M2 - T2)
    return torch.as_tensor(correction, dtype=runtime.dtype(), device=runtime.device()), M0


def tilt_risk(
    setting: LineSetting, reward: str, beta: float, S, b, w_true, m, factor=2.0, narrowed=True
):
    """The oracle risk of the Gaussian tilt (ch8-tilt) given the prompt.

    Parameters
    ----------
    setting : LineSetting
        The model.
    reward : str
        ``"in-context loss"`` (:math:`c = S`, :math:`w_0 = b/S`) or ``"norm"`` (:math:`c = 1`,
        :math:`w_0 = 0`).
    beta : float
        The selection's temperature.
    S : torch.Tensor
        The prompts' :math:`S = \\sum x_i^2/n`, as :func:`line_candidates` returns it.
    b : torch.Tensor
        The prompts' :math:`b = \\sum x_i y_i / n`, as :func:`line_candidates` returns it.
    w_true : torch.Tensor
        The true coefficients, as :func:`line_candidates` returns them.
    m : torch.Tensor
        The steps :math:`m = \\eta b`, as :func:`line_candidates` returns them.
    factor : float
        The factor on the curvature (2; 1 is a wrong formula).
    narrowed : bool
        Whether the variance is the tilt's (``False``: :math:`\\tau^2`, a wrong formula).

    Returns
    -------
    torch.Tensor
        Per prompt, :math:`(\\mu - w^*)^2 + 1/\\text{precision}`.

    Notes
    -----
    :math:`\\text{precision} = 1/\\tau^2 + 2c/\\beta`,
    :math:`\\mu = (m/\\tau^2 + 2 c w_0/\\beta)/\\text{precision}`.
    """
    tau = setting.tau
    curvature, center = (S, b / S) if reward == "in-context loss" else (torch.ones_like(S), 0 * S)
    precision = 1 / tau**2 + factor * curvature / beta
    mean = (m / tau**2 + factor * curvature * center / beta) / precision
    return (mean - w_true) ** 2 + (1 / precision if narrowed else tau**2)


def soft_selection_sampler(setting: LineSetting, reward: str, beta: float, count: int) -> Sampler:
    """A sampler of soft selection's loss against the tilt's risk, per prompt.

    Parameters
    ----------
    setting : LineSetting
        The model.
    reward : str
        ``"in-context loss"`` or ``"norm"``.
    beta : float
        The selection's temperature.
    count : int
        Simulated candidates per prompt.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor`` of shape ``(batch, 6)``: per prompt, soft selection's
        expected loss among ``count`` simulated candidates
        :math:`\\sum_k \\mathrm{softmax}_k (w_k - w^*)^2`; the tilt's risk plus the finite-N
        correction; the two wrong tilts with the same correction; :math:`M_0`; the tilt's risk
        alone.
    """

    def sample(batch, g):
        S, b, w_true, m, w = line_candidates(setting, batch, g, count)
        correction, M0 = finite_n_correction(setting, reward, beta, S, b, w_true, m, count)

        def tilt(**slip):
            return tilt_risk(setting, reward, beta, S, b, w_true, m, **slip) + correction

        weights = torch.softmax(-score(reward, S, b, w) / beta, dim=1)
        selected = (weights * (w - w_true[:, None]) ** 2).sum(1)
        return torch.stack(
            [
                selected,
                tilt(),
                tilt(narrowed=False),
                tilt(factor=1.0),
                torch.as_tensor(M0, dtype=runtime.dtype(), device=runtime.device()),
                tilt() - correction,
            ],
            1,
        )

    return sample


def panel_error_sampler(setting: LineSetting, beta: float, count: int) -> Sampler:
    """A sampler of the quadrature error of the finite-N correction, for the in-context loss.

    Parameters
    ----------
    setting : LineSetting
        The model.
    beta : float
        The selection's temperature.
    count : int
        Candidates, :math:`N`.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, the finite-N correction by the default
        panels minus that by finer ones (24 panels in x, 12 nodes each).
    """

    def sample(batch, g):
        S, b, w_true, m, _ = line_candidates(setting, batch, g, count)
        args = (setting, "in-context loss", beta, S, b, w_true, m, count)
        coarse = finite_n_correction(*args)[0]
        fine = finite_n_correction(*args, x_panels=24, nodes=12)[0]
        return coarse - fine

    return sample


def norm_tilt_sampler(setting: LineSetting, beta: float) -> Sampler:
    """A sampler of the tilt's oracle risk by the norm reward, given the prompt.

    Parameters
    ----------
    setting : LineSetting
        The model.
    beta : float
        The selection's temperature.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, :func:`tilt_risk` by the norm.
    """

    def sample(batch, g):
        S, b, w_true, m, _ = line_candidates(setting, batch, g, 1)
        return tilt_risk(setting, "norm", beta, S, b, w_true, m)

    return sample


def norm_tilt_closed_form(setting: LineSetting, beta: float) -> float:
    """The prompt average of the norm tilt's risk in closed form.

    Parameters
    ----------
    setting : LineSetting
        The model.
    beta : float
        The selection's temperature.

    Returns
    -------
    float
        The average risk.

    Notes
    -----
    With :math:`h = \\eta\\beta/(\\beta + 2\\tau^2)`, :math:`v = \\tau^2\\beta/(\\beta + 2\\tau^2)`,
    :math:`\\mathbb{E}S = 1`, :math:`\\mathbb{E}S^2 = (n+2)/n`:
    :math:`h^2 (n+2)/n - 2h + 1 + h^2\\sigma^2/n + v`.
    """
    n, tau = setting.n, setting.tau
    h = setting.eta * beta / (beta + 2 * tau**2)
    v = tau**2 * beta / (beta + 2 * tau**2)
    return (h**2 * (n + 2) / n - 2 * h + 1 + h**2 * setting.sigma2 / n) + v


def shortfall(values: np.ndarray, column: int) -> tuple[float, float]:
    """Relative distance of the mean of a column of :func:`soft_selection_sampler`'s values from
    the tilt's mean (column 5).

    Parameters
    ----------
    values : numpy.ndarray
        The sampler's values, one row per prompt.
    column : int
        The column compared with column 5.

    Returns
    -------
    tuple of float
        The ratio of the means minus 1, and its standard error (by the delta method).
    """
    tilt, other = values[:, 5], values[:, column]
    ratio = other.mean() / tilt.mean()
    se = (other - ratio * tilt).std(ddof=1) / math.sqrt(len(tilt)) / tilt.mean()
    return float(ratio - 1), float(se)


@dataclass(frozen=True)
class SelectionCurves:
    """Exact best-of-N and soft-selection curves against KL, per reward."""

    hard_n: np.ndarray
    hard_kl: np.ndarray
    hard: dict  # reward -> risk of best-of-N for N in hard_n
    betas: np.ndarray
    soft: dict  # reward -> (risk, KL) of soft selection for beta in betas
    soft_opt: dict  # reward -> (beta, risk, KL) at soft selection's optimum
    soft_vs_hard: dict  # reward -> {N: soft selection's risk at the KL of best-of-N}
    kl_cross: float  # the KL below which soft selection by the norm helps

    def describe(self) -> str:
        """Each reward's optimum and soft selection at the KL of best-of-N, a few lines."""
        rows = []
        for r in REWARDS:
            hard, opt = self.hard[r], self.soft_opt[r]
            rows.append(
                f"{r}: best-of-N is best at N = {int(self.hard_n[hard.argmin()])} (risk "
                f"{hard.min():.4f}; N = 1: {hard[0]:.4f}); soft selection is best at beta = "
                f"{opt[0]:.3f} (continuous optimum; KL {opt[2]:.3f}, risk {opt[1]:.5f})"
            )
            for N, soft in self.soft_vs_hard[r].items():
                rows.append(
                    f"   at the KL of N = {N:>3} ({self.hard_kl[N - 1]:.3f}): best-of-N "
                    f"{hard[N - 1]:.4f}, soft {soft:.4f}"
                )
        return "\n".join(rows)


def selection_curves(setting: LineSetting) -> SelectionCurves:
    """Best-of-N for N = 1..1000 and soft selection over 36 temperatures, exact.

    Parameters
    ----------
    setting : LineSetting
        The model.

    Returns
    -------
    SelectionCurves
        The curves, soft selection's continuous optimum over :math:`\\beta` (bounded search in
        :math:`\\log\\beta`), its risk at the KL of best-of-N for N = 2, 3, 6, 30, 200 (root
        finding in :math:`\\log\\beta`), and the KL where soft selection by the norm climbs back
        to the risk of one candidate.

    Notes
    -----
    (ch8-bon-kl): :math:`\\mathrm{KL} = \\log N - (N-1)/N`.
    """
    hard_n = np.arange(1, 1001)
    hard_kl = theory.best_of_n_kl(hard_n)
    hard = {
        r: theory.best_of_n_risk_1d_averaged(hard_n, setting.tau, reward=r, **setting.params)
        for r in REWARDS
    }
    betas = np.geomspace(1e-3, 30, 36)
    soft = {r: np.array([setting.soft(r, bt) for bt in betas]) for r in REWARDS}

    def beta_at_kl(r, kl):
        return math.exp(
            optimize.brentq(lambda lb: setting.soft(r, math.exp(lb))[1] - kl, -12.0, 9.0)
        )

    soft_opt, soft_vs_hard = {}, {}
    for r in REWARDS:
        found = optimize.minimize_scalar(
            lambda lb, r=r: setting.soft(r, math.exp(lb))[0],
            bounds=(-7.0, 3.5),
            method="bounded",
            options={"xatol": 1e-6},
        )
        soft_opt[r] = (math.exp(found.x), *setting.soft(r, math.exp(found.x)))
        soft_vs_hard[r] = {
            N: setting.soft(r, beta_at_kl(r, hard_kl[N - 1]))[0] for N in (2, 3, 6, 30, 200)
        }
    beta_cross = math.exp(
        optimize.brentq(
            lambda lb: setting.soft("norm", math.exp(lb))[0] - hard["norm"][0],
            -7.0,
            math.log(soft_opt["norm"][0]),
        )
    )
    return SelectionCurves(
        hard_n=hard_n,
        hard_kl=hard_kl,
        hard=hard,
        betas=betas,
        soft=soft,
        soft_opt=soft_opt,
        soft_vs_hard=soft_vs_hard,
        kl_cross=setting.soft("norm", beta_cross)[1],
    )


def best_of_n_sampler(setting: LineSetting, sim_n: np.ndarray) -> Sampler:
    """A sampler of the oracle loss of best-of-N and of the average of N candidates.

    Parameters
    ----------
    setting : LineSetting
        The model.
    sim_n : numpy.ndarray
        The numbers of candidates N, increasing (integers >= 1).

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, the oracle loss of best-of-N for each N of
        ``sim_n`` by the in-context loss, the norm and the oracle, then of the average of the
        first N candidates (one draw of ``max(sim_n)`` candidates per prompt).
    """

    def best_of_n_loss(scores, loss):
        return torch.gather(loss, 1, torch.cummin(scores, dim=1).indices)

    def sample(batch, g):
        S, b, w_true, _, w = line_candidates(setting, batch, g, int(sim_n[-1]))
        loss = (w - w_true[:, None]) ** 2
        picked = [best_of_n_loss(score(r, S, b, w), loss) for r in REWARDS]
        picked.append(best_of_n_loss(loss, loss))
        average = (w.cumsum(1) / torch.arange(1, w.shape[1] + 1) - w_true[:, None]) ** 2
        return torch.cat([v[:, sim_n - 1] for v in picked + [average]], 1)

    return sample


# --------------------------------------------------------------------------------------------
# Every technique against compute
# --------------------------------------------------------------------------------------------


def panel_chains(split: SplitsOverBudgets, budgets: np.ndarray) -> dict[str, np.ndarray]:
    """Panel A's exact curves: the techniques on Chapter 3's chains against the budget.

    Parameters
    ----------
    split : SplitsOverBudgets
        The optimal split at Chapter 3's level (its budgets include ``budgets``).
    budgets : numpy.ndarray
        Budgets in chain-steps, a prefix of ``split.budgets``.

    Returns
    -------
    dict
        Label -> risk: the greedy chain of ``B`` steps and at its best length ``<= B``, one noisy
        chain of ``B`` steps, the best split at Chapter 3's level and at the Bayes level
        :math:`\\delta^2 = \\sigma^2/n` (its terms over 512 designs).
    """
    s = split.setting
    bayes_level = math.sqrt(theory.bayes_ridge_penalty(s.n, s.sigma2))
    bayes_terms = theory.prompt_averaged_chain_terms(
        **dict(s.params, level=bayes_level), steps=int(budgets[-1]), designs=512
    )
    greedy = np.array([theory.expected_gd_risk(s.n, s.d, s.sigma2, s.eta, int(B)) for B in budgets])
    greedy_all = np.array(
        [theory.expected_gd_risk(s.n, s.d, s.sigma2, s.eta, T) for T in range(1, 400)]
    )
    return {
        "greedy chain, T = B": greedy,
        "greedy chain, best T <= B": np.minimum.accumulate(
            np.array([greedy_all[: min(B, 399)].min() for B in budgets])
        ),
        "one noisy chain, T = B": np.array([split.think_longer(B) for B in budgets]),
        "average, best split (delta = 0.5)": split.r_star[: len(budgets)],
        "average, best split (Bayes delta)": np.array(
            [theory.best_split(bayes_terms.bias2, bayes_terms.trace, B)[2] for B in budgets]
        ),
    }


def panel_chains_sampler(split: SplitsOverBudgets, budgets: np.ndarray) -> Sampler:
    """A sampler of the loss of panel A's simulated techniques.

    Parameters
    ----------
    split : SplitsOverBudgets
        The optimal split (its setting and terms).
    budgets : numpy.ndarray
        Budgets ``B`` in chain-steps.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, the loss of the greedy chain of ``B``
        steps for each ``B`` of ``budgets``, then of the average of the best split's chains at
        each ``B``.
    """
    s, terms = split.setting, split.terms

    def sample(batch, g):
        p = chain_prompts(s, batch, g)
        out = [
            ((theory.ridge_gd_iterate(p.X, p.y, s.eta, 0.0, int(B)) - p.w) ** 2).sum(1)
            for B in budgets
        ]
        for B in budgets:
            n_avg, steps, _ = theory.best_split(terms.bias2, terms.trace, int(B))
            chains = sample_chains(
                p.X,
                p.y,
                eta=s.eta,
                steps=steps,
                n_chains=n_avg,
                noise="multiplicative",
                level=s.level,
                generator=g,
            )
            out.append(((chains.mean(1) - p.w) ** 2).sum(1))
        return torch.stack(out, 1)

    return sample


def _hot(k):
    return max(k - 1, 1e-3)  # the temperature of k samples over T_cal


def panel_coin(setting: CoinSetting, ks: np.ndarray) -> dict[str, np.ndarray]:
    """Panel B's exact curves: one coefficient of Chapter 5 against the number of samples.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    ks : numpy.ndarray
        Numbers of samples.

    Returns
    -------
    dict
        Label -> probability that the coefficient is wrong (greedy, majority vote at
        :math:`T_{\\rm cal}`) or missed by all ``k`` samples (at :math:`T_{\\rm cal}` and at
        :math:`(k - 1) T_{\\rm cal}`).
    """
    c, t_cal = setting.params, setting.t_cal
    return {
        "greedy (one decode)": np.full(
            len(ks), theory.greedy_sign_error(setting.n, setting.d, setting.sigma2)
        ),
        "majority vote at T_cal": np.array(
            [1 - theory.vote_sign_accuracy(**c, temperature=t_cal, N=int(k)) for k in ks]
        ),
        "pass@k at T_cal (verifier)": theory.coverage_miss(ks, **c, temperature=t_cal),
        "pass@k at (k - 1) T_cal (verifier)": np.array(
            [theory.coverage_miss(int(k), **c, temperature=_hot(k) * t_cal) for k in ks]
        ),
    }


def panel_coin_exact(setting: CoinSetting, votes: np.ndarray, pass_k: np.ndarray) -> np.ndarray:
    """The exact values at the simulated points of :func:`panel_coin_sampler`.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    votes : numpy.ndarray
        Numbers of samples in the majority vote.
    pass_k : numpy.ndarray
        Numbers of samples ``k`` with a verifier.

    Returns
    -------
    numpy.ndarray
        The vote's error at each of ``votes`` (at :math:`T_{\\rm cal}`), then the miss of each
        of ``pass_k`` samples (at :math:`(k - 1) T_{\\rm cal}`).
    """
    c, t_cal = setting.params, setting.t_cal
    return np.concatenate(
        [
            [1 - theory.vote_sign_accuracy(**c, temperature=t_cal, N=int(k)) for k in votes],
            [theory.coverage_miss(int(k), **c, temperature=_hot(k) * t_cal) for k in pass_k],
        ]
    )


def panel_coin_sampler(setting: CoinSetting, votes: np.ndarray, pass_k: np.ndarray) -> Sampler:
    """A sampler of panel B's simulated majority votes and pass@k.

    Parameters
    ----------
    setting : CoinSetting
        The coefficient's setting.
    votes : numpy.ndarray
        Numbers of samples in the majority vote, increasing.
    pass_k : numpy.ndarray
        Numbers of samples ``k`` with a verifier.

    Returns
    -------
    Sampler
        ``(batch, generator) -> tensor``: per prompt, the fraction of coefficients a majority
        vote of each of ``votes`` samples at :math:`T_{\\rm cal}` gets wrong, then of those
        that all of ``k`` samples at :math:`(k - 1) T_{\\rm cal}` miss, for each ``k`` of
        ``pass_k``.
    """
    t_cal, d = setting.t_cal, setting.d

    def sample(batch, g):
        dev, dt = runtime.device(), runtime.dtype()
        _, margin = coin_prompts(setting, batch, g)
        right = torch.rand(batch, d, int(votes[-1]), generator=g, device=dev, dtype=dt)
        right = right < torch.sigmoid(2 * margin / t_cal).unsqueeze(-1)
        counts = right.cumsum(-1)[..., votes - 1].to(dt)
        vote_wrong = (counts < (torch.as_tensor(votes, dtype=dt) / 2)).to(dt).mean(1)
        missed = []
        for k in pass_k:
            hot = torch.rand(batch, d, int(k), generator=g, device=dev, dtype=dt)
            hot = hot < torch.sigmoid(2 * margin / (_hot(k) * t_cal)).unsqueeze(-1)
            missed.append((~hot.any(-1)).to(dt).mean(1))
        return torch.cat([vote_wrong, torch.stack(missed, 1)], 1)

    return sample


def panel_line(setting: LineSetting, curves: SelectionCurves) -> dict[str, np.ndarray]:
    """Panel C's exact curves: Chapter 4's one-dimensional model against the number of samples.

    Parameters
    ----------
    setting : LineSetting
        The model.
    curves : SelectionCurves
        Its exact selection curves (:func:`selection_curves`).

    Returns
    -------
    dict
        Label -> risk for ``N = 1..1000``: greedy, the average, best-of-N by the oracle, the
        in-context loss, the norm.
    """
    n_grid = curves.hard_n
    greedy = theory.one_step_risk(setting.n, 1, setting.sigma2, setting.eta)
    return {
        "greedy (one step)": np.full(len(n_grid), greedy),
        "average of N samples": greedy + setting.tau**2 / n_grid,
        "best-of-N, oracle": theory.best_of_n_risk_1d_averaged(
            n_grid, setting.tau, reward="oracle", **setting.params
        ),
        "best-of-N, in-context loss": curves.hard["in-context loss"],
        "best-of-N, norm": curves.hard["norm"],
    }


def winners(panel: dict[str, np.ndarray], grid: np.ndarray) -> str:
    """Where the best technique of a panel changes along its grid.

    Parameters
    ----------
    panel : dict
        Label -> risk along ``grid`` (the lowest risk is best).
    grid : numpy.ndarray
        The panel's grid.

    Returns
    -------
    str
        One phrase per change (``"from <grid point>: <label>"``, the first at the grid's start),
        joined by ``"; "``.
    """
    labels = list(panel)
    winner = np.argmin(np.stack([panel[k] for k in labels]), 0)
    changes = [0] + [i for i in range(1, len(grid)) if winner[i] != winner[i - 1]]
    return "; ".join(f"from {grid[i]}: {labels[winner[i]]}" for i in changes)
