"""The settings and experiments of Chapter 4, best-of-N.

The chapter: ``book/ch04_best_of_n.md``. Each candidate is one noisy gradient step from
:math:`w_0 = 0`, :math:`w_k = m + \\tau \\xi_k` with :math:`m = \\eta X^\\top y / n`, drawn by
:func:`icl.decoders.gd_chains.sample_chains` with additive noise at level :math:`\\tau`; a
reward scores each candidate (lower is better) and best-of-N keeps the smallest score.

Settings (frozen dataclasses, validated on construction):

- :class:`OneDim`: the chapter's one-dimensional setting (n = 6, sigma^2 = 3);
- :class:`HighDim`: the prototype's dimension d = 50 with n = 40, and the (N, tau) grid of the
  sweep;
- :class:`Curves`: the exact and simulated risk curves in N (d = 1, and n < d).

Experiments: :func:`exact_1d` (per prompt, the simulated and exact risks in d = 1),
:func:`fixed_prompt_oracle`, :func:`sweep` (the d = 50 grid, a :class:`Sweep`),
:func:`ridge_risk`, :func:`interpolator_risk`, :func:`small_n` (the d = 1 statements at N <= 6),
:func:`risk_curves` and :func:`shrinkage` (the norm reward in d = 50). Every one draws its
prompts and candidates in the order the chapter's recorded checks were made with.

Exact values and their reports: :func:`quadrature_errors`, :func:`asymptote_table`,
:func:`two_term_law`, :func:`best_temperature_1d`, :func:`loss_identity`,
:func:`interpolator_formula`, :func:`exact_curves_1d` (an :class:`ExactCurves1D`),
:func:`curve_family` (the d = 1 curves as one Šidák family, a :class:`CurveFamily`) and
:func:`best_n_of_grid` (a simulated curve's best N, a :class:`BestN` per reward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import optimize, stats

from icl import runtime, tasks, techniques, theory, validation
from icl.decoders.gd_chains import sample_chains
from icl.domain import declared_error
from icl.harness import montecarlo
from icl.harness.montecarlo import Estimate
from icl.validation import choice, integer, positive

REWARDS = ("oracle", "in-context loss", "norm")
EXACT_REWARDS = [0, 2]  # oracle and norm: exact given the prompt in any d


def _where(device, dtype) -> tuple[torch.device, torch.dtype]:
    """The run's device and dtype where the caller gives none."""
    return (
        runtime.device() if device is None else device,
        runtime.dtype() if dtype is None else dtype,
    )


@dataclass(frozen=True)
class OneDim:
    """The chapter's one-dimensional setting.

    Parameters
    ----------
    n : int
        Examples per prompt.
    sigma2 : float
        Label noise variance :math:`\\sigma^2`.
    prompts : int
        Prompts of the per-prompt checks (300 at smoke scale, 4000 at full scale).
    sets : int
        Independent best-of-N draws per prompt.
    """

    n: int = 6
    sigma2: float = 3.0
    prompts: int = field(default_factory=lambda: runtime.by_scale(smoke=300, full=4000))
    sets: int = 200

    def __post_init__(self):
        integer("n", self.n)
        positive("sigma2", self.sigma2)
        integer("prompts", self.prompts, minimum=2)
        integer("sets", self.sets)

    @property
    def eta(self) -> float:
        """Chapter 1's best step :math:`\\eta^*` for this setting."""
        return theory.optimal_step(self.n, 1, self.sigma2)

    @property
    def params(self) -> dict:
        """The parameters a check of this setting records."""
        return dict(n=self.n, d=1, sigma2=self.sigma2, eta=round(self.eta, 6))

    def recorded(self, **extra) -> dict:
        """The parameters a per-prompt check records: ``extra``, the setting's, the draws.

        Parameters
        ----------
        **extra
            The check's own parameters (reward, N, tau), recorded first.

        Returns
        -------
        dict
            ``extra``, then :attr:`params`, then ``sets_per_prompt``.
        """
        return dict(extra, **self.params, sets_per_prompt=self.sets)


@dataclass(frozen=True)
class HighDim:
    """The prototype's dimension, d = 50, and the (N, tau) grid of the sweep.

    Parameters
    ----------
    n, d : int
        Examples per prompt and dimension.
    sigma2 : float
        Label noise variance.
    n_grid : tuple of int
        The numbers of samples N recorded (the largest is drawn, the rest by running minima).
    taus : tuple of float
        The temperature grid.
    prompts : int
        Prompts of the sweep (200 at smoke scale, 512 at full scale; the exact part is a CPU
        quadrature per prompt).
    """

    n: int = 40
    d: int = 50
    sigma2: float = 0.5
    n_grid: tuple = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000)
    taus: tuple = tuple(np.round(np.linspace(0.05, 0.6, 12), 3).tolist())
    prompts: int = field(default_factory=lambda: runtime.by_scale(smoke=200, full=512))

    def __post_init__(self):
        integer("n", self.n)
        integer("d", self.d)
        positive("sigma2", self.sigma2)
        for N in self.n_grid:
            integer("n_grid entry", N)
        for tau in self.taus:
            positive("taus entry", tau)
        integer("prompts", self.prompts, minimum=2)

    @property
    def problem(self) -> dict:
        """``n``, ``d`` and ``sigma2``, as the theory functions and the records take them."""
        return dict(n=self.n, d=self.d, sigma2=self.sigma2)

    def recorded(self, **extra) -> dict:
        """The parameters a check in this setting records: ``extra``, then :attr:`problem`.

        Parameters
        ----------
        **extra
            The check's own parameters (N, tau, ...), recorded first.

        Returns
        -------
        dict
            ``extra`` followed by ``n``, ``d`` and ``sigma2``.
        """
        return dict(extra, **self.problem)

    @property
    def eta(self) -> float:
        """Chapter 1's best step :math:`\\eta^*`."""
        return theory.optimal_step(**self.problem)

    @property
    def greedy_risk(self) -> float:
        """Chapter 1's exact one-step risk :math:`B(\\eta^*)` of the greedy answer."""
        return theory.one_step_risk(self.n, self.d, self.sigma2, self.eta)


@dataclass(frozen=True)
class Curves:
    """The risk curves in N at one temperature: d = 1 (exact and simulated) and n < d.

    Parameters
    ----------
    tau : float
        The temperature.
    n_grid : tuple of int
        The N of the simulated curves.
    low : dict
        The n < d setting (``n``, ``d``, ``sigma2``).
    prompts_1d, prompts_low : int
        Prompts of the simulated curves.
    """

    tau: float = 0.3
    n_grid: tuple = (1, 2, 3, 5, 10, 20, 50, 100, 300, 1000)
    low: dict = field(default_factory=lambda: dict(n=2, d=6, sigma2=4.0))
    prompts_1d: int = field(default_factory=lambda: runtime.by_scale(smoke=4000, full=100_000))
    prompts_low: int = field(default_factory=lambda: runtime.by_scale(smoke=10_000, full=100_000))

    def __post_init__(self):
        positive("tau", self.tau)
        for N in self.n_grid:
            integer("n_grid entry", N)
        if self.low["n"] >= self.low["d"]:
            raise ValueError(f"low must have n < d, got {self.low}")
        integer("prompts_1d", self.prompts_1d, minimum=2)
        integer("prompts_low", self.prompts_low, minimum=2)

    def low_limits(self) -> dict:
        """The exact :math:`N \\to \\infty` limits of the n < d setting at :attr:`tau`.

        Returns
        -------
        dict
            By reward: the in-context loss's limit
            :math:`\\psi^2 (d - n) + \\sigma^2 n/(d - n - 1) + \\tau^2 (d - n)` and the norm
            reward's :math:`\\psi^2 d`.
        """
        return {
            "in-context loss": theory.in_context_limit_risk(**self.low, tau=self.tau),
            "norm": float(self.low["d"]),
        }


def scores(reward: str, candidates: torch.Tensor, p: tasks.Prompts) -> torch.Tensor:
    """The scores of candidates under one of the three rewards.

    Parameters
    ----------
    reward : {"oracle", "in-context loss", "norm"}
        The reward.
    candidates : torch.Tensor
        Candidates ``(B, N, d)``.
    p : icl.tasks.Prompts
        The B prompts (``X``, ``y``, ``w``).

    Returns
    -------
    torch.Tensor
        Scores ``(B, N)``, lower is better.

    Notes
    -----
    :math:`\\|w - w^*\\|^2`, :math:`\\|Xw - y\\|^2 / n` or :math:`\\|w\\|^2`.
    """
    choice("reward", reward, REWARDS)
    if reward == "oracle":
        return techniques.oracle_score(candidates, p.w)
    if reward == "in-context loss":
        return techniques.in_context_loss(candidates, p.X, p.y)
    return techniques.norm_score(candidates)


def candidates(
    p: tasks.Prompts, eta: float, n_chains: int, tau: float, gen: torch.Generator
) -> torch.Tensor:
    """``n_chains`` one-step candidates per prompt at temperature ``tau``.

    Parameters
    ----------
    p : icl.tasks.Prompts
        The prompts.
    eta : float
        The step size.
    n_chains : int
        Candidates per prompt.
    tau : float
        The level of the additive noise.
    gen : torch.Generator
        The source of the noise.

    Returns
    -------
    torch.Tensor
        Candidates ``(B, n_chains, d)``.

    Notes
    -----
    :math:`w_k = \\eta X^\\top y / n + \\tau \\xi_k`, :math:`\\xi_k \\sim N(0, I_d)`.
    """
    return sample_chains(
        p.X, p.y, eta=eta, steps=1, n_chains=n_chains, noise="additive", level=tau, generator=gen
    )


def least_squares_centre(p: tasks.Prompts) -> torch.Tensor:
    """The least-squares (n >= d) or minimum-norm (n < d) solution of each prompt.

    Parameters
    ----------
    p : icl.tasks.Prompts
        The prompts.

    Returns
    -------
    torch.Tensor
        :math:`X^+ y`, shape ``(B, d)``.

    Notes
    -----
    :math:`(X^\\top X)^{-1} X^\\top y` for :math:`n \\ge d`, :math:`X^\\top (X X^\\top)^{-1} y`
    for :math:`n < d`.
    """
    n, d = p.X.shape[1:]
    if n >= d:
        return torch.linalg.solve(p.X.transpose(1, 2) @ p.X, torch.einsum("bnd,bn->bd", p.X, p.y))
    return torch.einsum("bnd,bn->bd", p.X, torch.linalg.solve(p.X @ p.X.transpose(1, 2), p.y))


def min_of_normals(N: int, t: float | None = None, *, device=None, dtype=None):
    """A sampler of the minimum of N standard normals, or of their smallest squared offset.

    Parameters
    ----------
    N : int
        Normals per draw.
    t : float or None
        ``None`` for :math:`\\min_k Z_k`, else :math:`\\min_k (Z_k - t)^2`.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    callable
        ``sample(batch, generator)``, a tensor ``(batch,)``, for
        :func:`icl.harness.montecarlo.estimate_mean`.
    """
    N = integer("N", N)
    device, dtype = _where(device, dtype)

    def sample(batch, gen):
        z = torch.randn(batch, N, generator=gen, device=device, dtype=dtype)
        return z.min(1).values if t is None else ((z - t) ** 2).min(1).values

    return sample


def _centre_1d(reward, p):
    """c of the d = 1 score (w - c)^2: w*, least squares, or 0."""
    if reward == "oracle":
        return p.w[:, 0]
    if reward == "in-context loss":
        return (p.X[..., 0] * p.y).sum(1) / (p.X[..., 0] ** 2).sum(1)
    return torch.zeros_like(p.w[:, 0])


def exact_1d(
    setting: OneDim, reward: str, N: int, tau: float, *, seed: int, device=None, dtype=None
) -> Estimate:
    """Per prompt in d = 1: the simulated risk of the selected candidate, the exact risk and a
    wrong formula.

    Parameters
    ----------
    setting : OneDim
        The prompts' setting, its number of prompts and of best-of-N draws per prompt.
    reward : str
        One of :data:`REWARDS`.
    N : int
        Candidates per draw.
    tau : float
        The temperature.
    seed : int
        The seed of the Monte Carlo run.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    Estimate
        Columns: simulated risk (mean over ``setting.sets`` draws), exact risk, the wrong
        formula (N + 1 for the oracle, else no cross term); the values are kept.

    Notes
    -----
    :math:`\\mathbb{E}(w_{\\rm sel} - w^*)^2 = \\tau^2 g_N(t) + 2\\tau\\delta h_N(t) + \\delta^2`
    with :math:`t = (c - m)/\\tau`, :math:`\\delta = c - w^*`.
    """
    choice("reward", reward, REWARDS)
    device, dtype = _where(device, dtype)
    n, sigma2, eta, sets = setting.n, setting.sigma2, setting.eta, setting.sets

    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, 1, sigma2=sigma2, generator=gen, device=device, dtype=dtype
        )
        cand = candidates(p, eta, N * sets, tau, gen)
        sel, _ = techniques.best_of_n(
            cand.reshape(batch * sets, N, 1), scores(reward, cand, p).reshape(batch * sets, N)
        )
        simulated = ((sel.reshape(batch, sets) - p.w) ** 2).mean(1)
        m, c, w = (
            v.cpu().numpy()
            for v in (eta * (p.X[..., 0] * p.y).sum(1) / n, _centre_1d(reward, p), p.w[:, 0])
        )
        exact = theory.best_of_n_risk_1d(N, tau, m, c, w)
        if reward == "oracle":
            wrong = theory.best_of_n_risk_1d(N + 1, tau, m, c, w)
        else:
            g = np.vectorize(lambda s: theory.expected_min_sq_offset(N, s))((c - m) / tau)
            wrong = tau**2 * g + (c - w) ** 2
        exact, wrong = (torch.as_tensor(v, device=device, dtype=dtype) for v in (exact, wrong))
        return torch.stack([simulated, exact, wrong], 1)

    return montecarlo.estimate_mean(sample, setting.prompts, seed=seed, keep_values=True)


def fixed_prompt_oracle(
    setting: HighDim, N: int, tau: float, *, samples: int, seed: int, device=None, dtype=None
) -> tuple[Estimate, float]:
    """The oracle's selected loss on one fixed prompt (drawn with seed 40), by simulation.

    Parameters
    ----------
    setting : HighDim
        The prompt's setting.
    N : int
        Candidates per draw.
    tau : float
        The temperature.
    samples : int
        Best-of-N draws.
    seed : int
        The seed of the Monte Carlo run.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    (Estimate, float)
        :math:`\\min_k \\|w_k - w^*\\|^2` averaged over the draws, and the prompt's
        :math:`\\|m - w^*\\|^2`.
    """
    device, dtype = _where(device, dtype)
    gen = runtime.generator(40, device)
    one = tasks.sample_prompts(
        1, setting.n, setting.d, sigma2=setting.sigma2, generator=gen, device=device, dtype=dtype
    )
    m = setting.eta * torch.einsum("bnd,bn->bd", one.X, one.y) / setting.n
    bias2 = float(((m - one.w) ** 2).sum())

    def sample(batch, gen):
        cand = candidates(one, setting.eta, N * batch, tau, gen)
        return techniques.oracle_score(cand, one.w).reshape(batch, N).min(1).values

    return montecarlo.estimate_mean(sample, samples, seed=seed, chunk_size=4096), bias2


def _high_candidates(setting, batch, gen, tau, device, dtype):
    """Prompts of the d = 50 setting and the largest N of the grid of candidates each."""
    p = tasks.sample_prompts(
        batch,
        setting.n,
        setting.d,
        sigma2=setting.sigma2,
        generator=gen,
        device=device,
        dtype=dtype,
    )
    return p, candidates(p, setting.eta, int(setting.n_grid[-1]), tau, gen)


def _sweep_sampler(setting, tau, device, dtype):
    """Per prompt, flattened: simulated, Gaussian-approximated selected loss and their difference
    (3, 3 rewards, N), the exact oracle and norm-reward risks and simulated - exact (2, 2, N),
    then ||m - w*||^2."""
    n, d, grid = setting.n, setting.d, np.array(setting.n_grid)

    def sample(batch, gen):
        p, cand = _high_candidates(setting, batch, gen, tau, device, dtype)
        loss = techniques.oracle_score(cand, p.w)
        sim = torch.stack(
            [techniques.best_of_n_values(scores(r, cand, p), loss)[:, grid - 1] for r in REWARDS],
            1,
        )
        m = setting.eta * torch.einsum("bnd,bn->bd", p.X, p.y) / n
        a, S = m - p.w, p.X.transpose(1, 2) @ p.X / n
        offsets = [(a, None), (m - least_squares_centre(p), S), (m, None)]
        approx = [
            np.stack([theory.gaussian_selection_risk(int(N), tau, a, c, M) for N in grid], -1)
            for c, M in offsets
        ]
        approx = torch.as_tensor(np.stack(approx, 1), device=device, dtype=dtype)
        exact = [
            theory.oracle_best_of_n_risk(grid, tau, bias2=(a**2).sum(1).cpu().numpy(), d=d),
            theory.norm_reward_risk(grid, tau, m, p.w),
        ]
        exact = torch.as_tensor(np.stack(exact, 1), device=device, dtype=dtype).permute(2, 1, 0)
        parts = [
            torch.stack([sim, approx, sim - approx], 1),
            torch.stack([exact, sim[:, EXACT_REWARDS] - exact], 1),
        ]
        return torch.cat([v.reshape(batch, -1) for v in parts] + [(a**2).sum(1, keepdim=True)], 1)

    return sample


@dataclass(frozen=True)
class Sweep:
    """The d = 50 sweep over the (N, tau) grid, read as arrays indexed (tau, reward, N).

    Attributes
    ----------
    setting : HighDim
        The setting swept.
    estimates : list of Estimate
        One per temperature, the flat rows of the sampler (values kept).
    """

    setting: HighDim
    estimates: list

    def part(self, part: int, stderr: bool = False) -> np.ndarray:
        """Part 0-2 (simulated, approximation, their difference; rewards 0-2) or 3-4 (exact,
        simulated - exact; oracle and norm) as an array (tau, reward, N), means or SEs."""
        K, first = len(self.setting.n_grid), 9 * len(self.setting.n_grid)
        flat = np.stack([np.asarray(e.stderr if stderr else e.mean)[:-1] for e in self.estimates])
        if part < 3:
            return flat[:, :first].reshape(-1, 3, 3, K)[:, part]
        return flat[:, first:].reshape(-1, 2, 2, K)[:, part - 3]

    def at(self, part: int, reward: int, i: int, tau: int = -1) -> Estimate:
        """The estimate of (part, reward, N = n_grid[i]) at the temperature of index ``tau`` (for
        parts 3-4, ``reward`` indexes :data:`EXACT_REWARDS`)."""
        K = len(self.setting.n_grid)
        col = (
            part * 3 * K + reward * K + i
            if part < 3
            else 9 * K + (part - 3) * 2 * K + reward * K + i
        )
        return self.estimates[tau][col]

    @property
    def sim(self) -> np.ndarray:
        """Simulated selected loss (tau, reward, N)."""
        return self.part(0)

    @property
    def approx(self) -> np.ndarray:
        """Gaussian approximation (tau, reward, N)."""
        return self.part(1)

    @property
    def exact(self) -> np.ndarray:
        """Exact risk given the prompt (tau, oracle and norm, N)."""
        return self.part(3)

    @property
    def line(self) -> tuple[np.ndarray, np.ndarray]:
        """Each reward's reference curve (exact for oracle and norm, else the approximation) and
        the SE of simulated - reference."""
        line, line_se = self.approx.copy(), self.part(2, stderr=True).copy()
        line[:, EXACT_REWARDS], line_se[:, EXACT_REWARDS] = self.exact, self.part(4, stderr=True)
        return line, line_se

    @property
    def reference(self) -> np.ndarray:
        """Exact where known, else simulated (tau, reward, N)."""
        reference = self.sim.copy()
        reference[:, EXACT_REWARDS] = self.exact
        return reference

    @property
    def best(self) -> np.ndarray:
        """(reward, N): the index of the best temperature of the grid, on the reference."""
        return self.reference.argmin(0)

    @property
    def mean_bias2(self) -> Estimate:
        """The sweep's mean of :math:`\\|m - w^*\\|^2` over its prompts."""
        return self.estimates[0][-1]

    def accuracy_table(self) -> str:
        """The approximation's relative error at the best and the largest temperature.

        Returns
        -------
        str
            Two rows per reward (at each N's best temperature, and at the largest temperature),
            then the oracle's largest error at the best temperature.
        """
        taus, grid, best = self.setting.taus, self.setting.n_grid, self.best
        approx, ref = self.approx, self.reference
        rows = ["reward            N:  " + "  ".join(f"{N:6d}" for N in grid)]
        for j, reward in enumerate(REWARDS):
            at_best = [
                approx[best[j, i], j, i] / ref[best[j, i], j, i] - 1 for i in range(len(grid))
            ]
            against = "  (vs exact)" if j in EXACT_REWARDS else "  (vs simulated)"
            rows.append(
                f"{reward:16s} best tau " + "  ".join(f"{v:+6.1%}" for v in at_best) + against
            )
            at_max = approx[-1, j] / ref[-1, j] - 1
            rows.append(f"{'':16s} tau={taus[-1]:.2f} " + "  ".join(f"{v:+6.1%}" for v in at_max))
            if j == 0:
                oracle_worst = np.abs(at_best).max()
        rows.append(
            "largest |relative error| of the oracle approximation at the best temperature: "
            f"{oracle_worst:.1%}"
        )
        return "\n".join(rows)

    def temperature_table(self, greedy_risk: float) -> str:
        """The oracle's best temperature and risk, closed form against the grid's exact best.

        Parameters
        ----------
        greedy_risk : float
            :math:`B`, the greedy answer's risk, put in the closed forms.

        Returns
        -------
        str
            Rows: N; the closed-form :math:`\\tau^*(N)`; the grid's best temperature; the
            closed-form :math:`R^*(N)` with :math:`B` and with the sweep's mean
            :math:`\\|m - w^*\\|^2`; the exact risk at the grid's best temperature.

        Notes
        -----
        :math:`\\tau^{*2} = (B/d)(1/\\sqrt{1 - 2e_N^2/d} - 1)`,
        :math:`R^* = B\\sqrt{1 - 2e_N^2/d}`.
        """
        d, grid, taus = self.setting.d, self.setting.n_grid, np.asarray(self.setting.taus)
        best, exact = self.best[0], self.exact[:, 0]

        def row(name, values, fmt, note=""):
            return f"{name:12s}" + "  ".join(f"{v:{fmt}}" for v in values) + note

        def closed(b):
            return [theory.oracle_optimal_risk(int(N), d=d, bias2=b) for N in grid]

        tau = [theory.oracle_optimal_temperature(int(N), d=d, bias2=greedy_risk) for N in grid]
        step = f"   (best on the grid; grid step {taus[1] - taus[0]:.3f})"
        return "\n".join(
            [
                row("N", grid, "6d"),
                row("tau* closed", tau, "6.3f"),
                row("tau* exact", taus[best], "6.3f", step),
                row("R* closed", closed(greedy_risk), "6.2f", "   (with B)"),
                row(
                    "R* closed",
                    closed(self.mean_bias2.mean),
                    "6.2f",
                    "   (with the sweep's mean ||m - w*||^2)",
                ),
                row(
                    "R* exact",
                    exact[best, np.arange(len(grid))],
                    "6.2f",
                    "   (exact, averaged over the sweep's prompts)",
                ),
            ]
        )

    def closed_temperatures(self, greedy_risk: float) -> np.ndarray:
        """The closed-form best temperature :math:`\\tau^*(N)` at every N of the grid.

        Parameters
        ----------
        greedy_risk : float
            :math:`B`, the greedy answer's risk.

        Returns
        -------
        numpy.ndarray
            :math:`\\tau^*(N)`, one per N of the grid.

        Notes
        -----
        :math:`\\tau^{*2} = (B/d)(1/\\sqrt{1 - 2e_N^2/d} - 1)`.
        """
        d = self.setting.d
        return np.array(
            [
                theory.oracle_optimal_temperature(N, d=d, bias2=greedy_risk)
                for N in self.setting.n_grid
            ]
        )

    def oracle_cut(self, greedy_risk: float) -> tuple[float, float]:
        """The cut of the oracle's risk from the smallest to the largest N of the grid.

        Parameters
        ----------
        greedy_risk : float
            :math:`B`, the greedy answer's risk, put in the closed form.

        Returns
        -------
        (float, float)
            :math:`1 - R/R_1` at the grid's best temperatures, exact (averaged over the sweep's
            prompts), and the closed form's :math:`1 - R^*(N_{\\max})/B`.
        """
        exact, best = self.exact[:, 0], self.best[0]
        closed = theory.oracle_optimal_risk(
            self.setting.n_grid[-1], d=self.setting.d, bias2=greedy_risk
        )
        return 1 - exact[best[-1], -1] / exact[best[0], 0], 1 - closed / greedy_risk

    def error_summary(self) -> str:
        """Per reward, the approximation's worst relative error at the best temperature and over
        the whole grid (against the exact risk, or the simulation for the in-context loss)."""
        rel, best = self.approx / self.reference - 1, self.best
        rows = []
        for j, reward in enumerate(REWARDS):
            at_best = rel[best[j], j, np.arange(len(self.setting.n_grid))]
            worst_best, worst_all = (v.flat[np.abs(v).argmax()] for v in (at_best, rel[:, j]))
            against = "exact" if j in EXACT_REWARDS else "simulation"
            rows.append(
                f"{reward:16s} vs {against:10s}: at the best tau, worst {worst_best:+.1%}; "
                f"over the whole (N, tau) grid, worst {worst_all:+.1%}"
            )
        return "\n".join(rows)


def sweep(setting: HighDim, *, seed: int = 60, device=None, dtype=None) -> Sweep:
    """Best-of-N in d = 50 at every temperature of the grid, with the exact and approximate risks.

    Parameters
    ----------
    setting : HighDim
        The setting and its grid.
    seed : int
        One seed for every temperature: the same prompts and noise at each (common random
        numbers).
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    Sweep
        The estimates, with accessors by (tau, reward, N).

    Notes
    -----
    Approximation: :math:`\\mu_R + e_N \\operatorname{Cov}(R, s)/\\operatorname{sd}(s)`; exact:
    the noncentral chi-square quadrature (oracle) and the von Mises-Fisher formula (norm).
    """
    device, dtype = _where(device, dtype)
    return Sweep(
        setting,
        [
            montecarlo.estimate_mean(
                _sweep_sampler(setting, float(tau), device, dtype),
                setting.prompts,
                seed=seed,
                chunk_size=50,
                keep_values=True,
            )
            for tau in setting.taus
        ],
    )


def _prompt_chunk(n: int, d: int) -> int:
    """Prompts per call of a sampler that draws (n, d) prompts: estimate_mean's default chunk,
    or fewer where those prompts would pass :data:`icl.validation.MAX_ENTRIES`."""
    return min(65536, validation.MAX_ENTRIES // ((n + 1) * d))


def ridge_risk(
    n: int, d: int, sigma2: float, samples: int, seed: int, *, device=None, dtype=None
) -> Estimate:
    """Monte Carlo risk of ridge at :math:`\\lambda = \\sigma^2` (the posterior mean).

    Parameters
    ----------
    n, d : int
        Examples per prompt and dimension.
    sigma2 : float
        Label noise variance, also the ridge penalty.
    samples : int
        Prompts.
    seed : int
        The seed of the run.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    Estimate
        :math:`\\mathbb{E}\\|(X^\\top X + \\sigma^2 I)^{-1} X^\\top y - w\\|^2`, the Bayes risk.
    """
    device, dtype = _where(device, dtype)

    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, d, sigma2=sigma2, generator=gen, device=device, dtype=dtype
        )
        gram = p.X.transpose(1, 2) @ p.X + sigma2 * torch.eye(d, device=device, dtype=dtype)
        return ((torch.linalg.solve(gram, torch.einsum("bnd,bn->bd", p.X, p.y)) - p.w) ** 2).sum(1)

    return montecarlo.estimate_mean(sample, samples, seed=seed, chunk_size=_prompt_chunk(n, d))


def interpolator_risk(
    n: int, d: int, sigma2: float, samples: int, seed: int, *, device=None, dtype=None
) -> Estimate:
    """Monte Carlo risk of :math:`X^+ y` (least squares for n >= d, minimum norm for n < d).

    Parameters
    ----------
    n, d : int
        Examples per prompt and dimension.
    sigma2 : float
        Label noise variance.
    samples : int
        Prompts.
    seed : int
        The seed of the run.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    Estimate
        :math:`\\mathbb{E}\\|X^+ y - w\\|^2`.

    Notes
    -----
    Exact: :math:`\\sigma^2 d/(n - d - 1)` for :math:`n \\ge d`, and
    :math:`\\psi^2 (d - n) + \\sigma^2 n/(d - n - 1)` for :math:`n < d`.
    """
    device, dtype = _where(device, dtype)

    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, d, sigma2=sigma2, generator=gen, device=device, dtype=dtype
        )
        return ((least_squares_centre(p) - p.w) ** 2).sum(1)

    return montecarlo.estimate_mean(sample, samples, seed=seed, chunk_size=_prompt_chunk(n, d))


def small_n(
    setting: OneDim, tau: float, *, samples: int, seed: int, device=None, dtype=None
) -> Estimate:
    """The d = 1 statements at N <= 6, from six candidates per prompt.

    Parameters
    ----------
    setting : OneDim
        The d = 1 setting.
    tau : float
        The temperature.
    samples : int
        Prompts.
    seed : int
        The seed of the run.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    Estimate
        Four columns: the oracle's loss at N = 6; the in-context loss's N = 1 minus N = 6; the
        norm reward's N = 2 minus N = 1; the Gaussian approximation of that last difference.
    """
    device, dtype = _where(device, dtype)
    n, sigma2, eta = setting.n, setting.sigma2, setting.eta

    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, 1, sigma2=sigma2, generator=gen, device=device, dtype=dtype
        )
        cand = candidates(p, eta, 6, tau, gen)
        loss = techniques.oracle_score(cand, p.w)
        oracle, icl, norm = (techniques.best_of_n_values(scores(r, cand, p), loss) for r in REWARDS)
        m = (eta * (p.X[..., 0] * p.y).sum(1) / n).unsqueeze(1)
        a = (m - p.w).cpu().numpy()
        gauss = [theory.gaussian_selection_risk(N, tau, a, m.cpu().numpy()) for N in (1, 2)]
        gauss = torch.as_tensor(gauss[1] - gauss[0], device=device, dtype=dtype)
        return torch.stack([oracle[:, 5], icl[:, 0] - icl[:, 5], norm[:, 1] - norm[:, 0], gauss], 1)

    return montecarlo.estimate_mean(sample, samples, seed=seed, chunk_size=100_000)


def risk_curves(
    n: int,
    d: int,
    sigma2: float,
    tau: float,
    n_grid,
    *,
    samples: int,
    seed: int,
    device=None,
    dtype=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each reward's best-of-N loss on a grid of N, with its rise to the largest N and its drop
    from N = 1, at Chapter 1's best step.

    Parameters
    ----------
    n, d : int
        Examples per prompt and dimension.
    sigma2 : float
        Label noise variance.
    tau : float
        The temperature.
    n_grid : sequence of int
        The N recorded (the largest is drawn, the rest by running minima).
    samples : int
        Prompts.
    seed : int
        The seed of the run.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Means and SEs, shape (reward, 3, N): loss, :math:`R_{N_{\\max}} - R_N`, :math:`R_1 - R_N`.
    """
    device, dtype = _where(device, dtype)
    grid, eta = np.asarray(n_grid), theory.optimal_step(n, d, sigma2)

    def sample(batch, gen):
        p = tasks.sample_prompts(
            batch, n, d, sigma2=sigma2, generator=gen, device=device, dtype=dtype
        )
        cand = candidates(p, eta, int(grid[-1]), tau, gen)
        loss = techniques.oracle_score(cand, p.w)
        sim = torch.stack(
            [techniques.best_of_n_values(scores(r, cand, p), loss)[:, grid - 1] for r in REWARDS],
            1,
        )
        return torch.stack([sim, sim[..., -1:] - sim, sim[..., :1] - sim], 2).reshape(batch, -1)

    est = montecarlo.estimate_mean(sample, samples, seed=seed, chunk_size=500)
    shape = (len(REWARDS), 3, len(grid))
    return np.asarray(est.mean).reshape(shape), np.asarray(est.stderr).reshape(shape)


def sidak_z(comparisons: int, z: float = 4.0) -> tuple[float, float]:
    """The z that holds a family of comparisons to the false-alarm level of one z check.

    Parameters
    ----------
    comparisons : int
        The family's size.
    z : float
        The z of one check.

    Returns
    -------
    (float, float)
        The level :math:`\\alpha = P(|Z| > z)` and the Šidák z.

    Notes
    -----
    :math:`z_{\\rm Sidak} = \\Phi^{-1}\\big(1 - (1 - (1 - \\alpha)^{1/m})/2\\big)`.
    """
    comparisons = integer("comparisons", comparisons)
    level = 2 * stats.norm.sf(z)
    return level, float(stats.norm.isf((1 - (1 - level) ** (1 / comparisons)) / 2))


def curve_table(exact: dict, limits: dict) -> str:
    """The exact d = 1 curves at a few N, their best N and their limits, as a table.

    Parameters
    ----------
    exact : dict
        Per reward, the exact risk for N = 1, 2, ..., 1000 at least.
    limits : dict
        Per reward, the exact :math:`N \\to \\infty` limit.

    Returns
    -------
    str
        One row per reward: the risk at N = 1, 2, 3, 6, 1000, the best N with its risk, the
        limit.
    """
    rows = [
        "exact, prompt-averaged      N=1      N=2      N=3      N=6   N=1000   best N (risk)"
        "       N -> inf"
    ]
    for r, curve in exact.items():
        values = "  ".join(f"{curve[N - 1]:7.4f}" for N in (1, 2, 3, 6, 1000))
        best = f"{int(np.argmin(curve)) + 1:4d} ({curve.min():.4f})"
        rows.append(f"{r:16s}        {values}   {best}   {limits[r]:.4f}")
    return "\n".join(rows)


def shrinkage_table(shrink: Estimate, n_grid) -> str:
    """The norm reward's measured shrinkage against the exact and approximate kappa_N.

    Parameters
    ----------
    shrink : Estimate
        The result of :func:`shrinkage` (values kept).
    n_grid : sequence of int
        Its grid of N.

    Returns
    -------
    str
        Rows: N, the measured shrinkage, the exact :math:`\\kappa_N`, its Gaussian
        approximation, and (measured - exact) in paired standard errors.
    """
    K = len(n_grid)
    measured, exact, approx = np.asarray(shrink.mean)[: 3 * K].reshape(3, -1)
    paired = shrink.values[:, :K] - shrink.values[:, K : 2 * K]
    se = Estimate.from_values(paired).stderr
    z = (measured - exact) / np.where(se > 0, se, np.inf)

    def row(name, values, fmt):
        return f"{name:15s}" + "  ".join(f"{v:{fmt}}" for v in values)

    return "\n".join(
        [
            row("N", n_grid, "6d"),
            row("kappa measured", measured, "6.3f"),
            row("kappa_N exact", exact, "6.3f"),
            row("Gaussian appr.", approx, "6.3f"),
            row("(meas.-ex.)/SE", z, "+6.1f"),
        ]
    )


def _shrinkage_sampler(setting, tau, device, dtype):
    """Per prompt: measured shrinkage, exact kappa_N, measured - exact... (see shrinkage)."""
    n, d, grid = setting.n, setting.d, np.array(setting.n_grid)

    def sample(batch, gen):
        p, cand = _high_candidates(setting, batch, gen, tau, device, dtype)
        m = setting.eta * torch.einsum("bnd,bn->bd", p.X, p.y) / n
        proj = (cand * m.unsqueeze(1)).sum(-1) / (m**2).sum(-1, keepdim=True)
        measured = []
        for N in grid:
            sets = int(grid[-1]) // int(N)
            norms = (cand[:, : sets * N] ** 2).sum(-1).reshape(batch, sets, N)
            chosen = (
                proj[:, : sets * N].reshape(batch, sets, N).gather(2, norms.argmin(2, keepdim=True))
            )
            measured.append(chosen.mean((1, 2)))
        measured = torch.stack(measured, 1)
        mean_norm = m.norm(dim=1).cpu().numpy()
        exact = theory.norm_reward_shrinkage(grid, tau, mean_norm=mean_norm, d=d).T
        exact = torch.as_tensor(exact, device=device, dtype=dtype)
        e = [theory.expected_min_gaussian(int(N)) for N in grid]
        e = torch.as_tensor(e, device=device, dtype=dtype)
        spread = torch.sqrt(4 * tau**2 * (m**2).sum(-1, keepdim=True) + 2 * tau**4 * d)
        approx = 1 + 2 * tau**2 * e / spread
        sets = cand.reshape(batch, 10, 100, d)
        index = (sets**2).sum(-1).argmin(2)[..., None, None].expand(-1, -1, 1, d)
        chosen = sets.gather(2, index)[:, :, 0]
        risk = ((chosen - p.w.unsqueeze(1)) ** 2).sum(-1).mean(1)
        risk_exact = torch.as_tensor(
            theory.norm_reward_risk(100, tau, m, p.w), device=device, dtype=dtype
        )
        risk_approx = torch.as_tensor(
            theory.gaussian_selection_risk(100, tau, m - p.w, m), device=device, dtype=dtype
        )
        single = ((m - p.w) ** 2).sum(-1) + tau**2 * d
        risks = torch.stack([risk, risk_exact, risk_approx, single], 1)
        return torch.cat([measured, exact, approx, risks], 1)

    return sample


def shrinkage(
    setting: HighDim, tau: float, *, prompts: int, seed: int, device=None, dtype=None
) -> Estimate:
    """The norm reward's shrinkage and risk in the sweep's setting, measured and exact.

    Parameters
    ----------
    setting : HighDim
        The setting (its grid of N; the largest N must be 1000).
    tau : float
        The temperature.
    prompts : int
        Prompts.
    seed : int
        The seed of the run.
    device, dtype : optional
        Where to draw (the run's by default).

    Returns
    -------
    Estimate
        Per N of the grid: the measured :math:`\\langle w_{\\rm sel}, m\\rangle/\\|m\\|^2`
        (averaged over the disjoint sets of N among the candidates), the exact
        :math:`\\kappa_N`, its Gaussian approximation; then at N = 100 the measured risk, the
        exact risk, the Gaussian approximation and the N = 1 risk. The values are kept.

    Notes
    -----
    :math:`\\kappa_N = (\\tau/\\|m\\|)\\,\\mathbb{E}[\\rho A_d(\\rho\\|m\\|/\\tau)]`, approximated
    by :math:`1 - 2\\tau^2|e_N|/\\sqrt{4\\tau^2\\|m\\|^2 + 2\\tau^4 d}`.
    """
    if setting.n_grid[-1] != 1000:
        raise ValueError(f"the largest N of the grid must be 1000, got {setting.n_grid[-1]}")
    device, dtype = _where(device, dtype)
    sampler = _shrinkage_sampler(setting, tau, device, dtype)
    return montecarlo.estimate_mean(sampler, prompts, seed=seed, chunk_size=50, keep_values=True)


def quadrature_errors(n_values) -> tuple[str, np.ndarray]:
    r"""The oracle quadrature against two exact cases, at large N.

    Parameters
    ----------
    n_values : sequence of int
        The numbers of samples N.

    Returns
    -------
    (str, numpy.ndarray)
        A table, and its relative errors, shape ``(len(n_values), 2)``: for d = 2, bias 0 and
        tau = 1, against :math:`2\tau^2/N`; for d = 1, :math:`\|m - w^*\|^2 = 0.3` and
        tau = 0.8, against :math:`\tau^2 g_N(|m - w^*|/\tau)`.

    Notes
    -----
    :math:`\chi^2_2` is exponential, so :math:`R_N = 2\tau^2/N` for d = 2 and a zero bias; in
    d = 1 the oracle picks the candidate nearest :math:`w^*`.
    """
    header = "       N   d = 2 vs 2 tau^2/N   d = 1 vs tau^2 g_N(b/tau)   (relative errors)"
    rows, errors = [header], []
    for N in n_values:
        d2 = theory.oracle_best_of_n_risk(N, 1.0, bias2=0.0, d=2) / (2 / N) - 1
        d1 = (
            theory.oracle_best_of_n_risk(N, 0.8, bias2=0.3, d=1)
            / (0.8**2 * theory.expected_min_sq_offset(N, math.sqrt(0.3) / 0.8))
            - 1
        )
        rows.append(f"{N:8d}   {d2:+.1e}             {d1:+.1e}")
        errors.append((d2, d1))
    return "\n".join(rows), np.array(errors)


def asymptote_table(n_values, ts) -> tuple[str, np.ndarray]:
    r"""The exact :math:`g_N(t)` over the one-dimensional law :math:`\pi e^{t^2}/N^2`.

    Parameters
    ----------
    n_values : sequence of int
        The numbers of samples N.
    ts : sequence of float
        The offsets t.

    Returns
    -------
    (str, numpy.ndarray)
        A table of the ratio and of :math:`N(1 - \text{ratio})`, and the ratios, shape
        ``(len(n_values), len(ts))``.

    Notes
    -----
    :math:`N^2 g_N(t) / (\pi e^{t^2}) = 1 - 3/N + O(N^{-2})`.
    """
    head = "t={:g}: N^2 g_N / (pi e^t^2), N(1 - ratio)"
    rows, table = ["  N    " + "   ".join(head.format(t) for t in ts)], []
    for N in n_values:
        ratios = [
            theory.expected_min_sq_offset(N, t) / theory.nearest_sample_asymptote(N, t) for t in ts
        ]
        cells = [f"{r:.6f}, {N * (1 - r):7.3f}" + " " * 17 for r in ratios]
        rows.append(f"{N:7d}  " + "   ".join(cells))
        table.append(ratios)
    return "\n".join(rows), np.array(table)


def two_term_law(N: int, t: float) -> tuple[float, float, float]:
    r"""The law :math:`\pi e^{t^2}/N^2`, the exact :math:`g_N(t)`, and what the two-term law omits.

    Parameters
    ----------
    N : int
        The number of samples.
    t : float
        The offset.

    Returns
    -------
    (float, float, float)
        The first term :math:`\pi e^{t^2}/N^2`, the exact :math:`g_N(t)`, and the remainder
        :math:`|g_N(t) - (\pi e^{t^2}/N^2)(1 - 3/N)|` plus the quadrature's declared error.

    Notes
    -----
    :math:`g_N(t) = (\pi e^{t^2}/N^2)(1 - 3/N + O(N^{-2}))`.
    """
    hp = theory.nearest_sample_asymptote(N, t)
    g_exact = theory.expected_min_sq_offset(N, t)
    remainder = abs(g_exact - hp * (1 - 3 / N))
    remainder += declared_error(theory.expected_min_sq_offset, g_exact)
    return hp, g_exact, remainder


def best_temperature_1d(N: int) -> tuple[float, float]:
    r"""The d = 1 oracle's best temperature given the prompt, from the exact risk.

    Parameters
    ----------
    N : int
        The number of samples.

    Returns
    -------
    (float, float)
        :math:`\tau^*/|b|` and :math:`N^2 R^*/(\pi e b^2)`, with :math:`b = m - w^*`; both tend
        to 1.

    Notes
    -----
    Minimises :math:`\tau^2 g_N(|b|/\tau)` over :math:`\tau \in [0.05, 5]` at :math:`|b| = 1`.
    """
    fit = optimize.minimize_scalar(
        lambda tau: tau**2 * theory.expected_min_sq_offset(N, 1.0 / tau),
        bounds=(0.05, 5),
        method="bounded",
        options={"xatol": 1e-9},
    )
    return float(fit.x), N**2 * fit.fun / (math.pi * math.e)


def loss_identity(candidates: torch.Tensor, p: tasks.Prompts) -> torch.Tensor:
    r"""The right-hand side of the in-context loss's identity, per candidate.

    Parameters
    ----------
    candidates : torch.Tensor
        Candidates ``(B, N, d)``.
    p : icl.tasks.Prompts
        The B prompts.

    Returns
    -------
    torch.Tensor
        ``(B, N)``: :math:`(w - \hat w)^\top S (w - \hat w) + \|X\hat w - y\|^2/n`, with
        :math:`\hat w = X^+ y` (:func:`least_squares_centre`).

    Notes
    -----
    It equals :math:`\|Xw - y\|^2/n` for every w, whether :math:`n \ge d` or not.
    """
    n = p.X.shape[1]
    w_ls = least_squares_centre(p)
    diff = candidates - w_ls.unsqueeze(1)
    quad = torch.einsum("bkd,bde,bke->bk", diff, p.X.transpose(1, 2) @ p.X / n, diff)
    floor = ((torch.einsum("bnd,bd->bn", p.X, w_ls) - p.y) ** 2).mean(1, keepdim=True)
    return quad + floor


def interpolator_formula(n: int, d: int, sigma2: float) -> tuple[float, float, str]:
    r"""The exact risk of :math:`X^+ y`, its off-by-one slip, and the statement of its check.

    Parameters
    ----------
    n, d : int
        Examples per prompt and dimension.
    sigma2 : float
        Label noise variance.

    Returns
    -------
    (float, float, str)
        The exact risk, the risk with :math:`n - d` (or :math:`d - n`) in the denominator, and
        the formula in words.

    Notes
    -----
    :math:`\sigma^2 d/(n - d - 1)` for :math:`n \ge d`,
    :math:`\psi^2 (d - n) + \sigma^2 n/(d - n - 1)` for :math:`n < d`.
    """
    if n >= d:
        formula, wrong = theory.least_squares_risk(n, d, sigma2), sigma2 * d / (n - d)
        return formula, wrong, "E||w_LS - w||^2 = sigma^2 d / (n - d - 1)"
    formula, wrong = theory.min_norm_risk(n, d, sigma2), (d - n) + sigma2 * n / (d - n)
    return formula, wrong, "E||X^+ y - w||^2 = psi^2 (d - n) + sigma^2 n / (d - n - 1)"


@dataclass(frozen=True)
class ExactCurves1D:
    r"""The exact prompt-averaged d = 1 risk curves of the three rewards, and their limits.

    Attributes
    ----------
    n_values : numpy.ndarray
        N = 1, 2, ..., the numbers of samples.
    exact : dict
        Per reward, the exact risk at each N of ``n_values``.
    limits : dict
        Per reward, the exact :math:`N \to \infty` limit.
    """

    n_values: np.ndarray
    exact: dict
    limits: dict

    def risk(self, reward: str, N: int) -> float:
        r"""The exact risk of ``reward`` at ``N`` samples."""
        return float(self.exact[reward][N - 1])

    def declared_error(self, *points) -> float:
        r"""The declared quadrature error of each exact value ``(reward, N)``, summed."""
        f = theory.best_of_n_risk_1d_averaged
        return sum([declared_error(f, self.risk(r, N)) for r, N in points])

    @property
    def best(self) -> dict:
        r"""Per reward, the N of the smallest exact risk."""
        return {r: int(self.n_values[curve.argmin()]) for r, curve in self.exact.items()}

    def table(self) -> str:
        r"""The curves at a few N, their best N and their limits (:func:`curve_table`)."""
        return curve_table(self.exact, self.limits)


def exact_curves_1d(setting: OneDim, tau: float, n_max: int = 1000) -> ExactCurves1D:
    r"""The exact prompt-averaged d = 1 risk of every reward for N = 1, ..., ``n_max``.

    Parameters
    ----------
    setting : OneDim
        The d = 1 setting (at its step :math:`\eta^*`).
    tau : float
        The temperature.
    n_max : int
        The largest N.

    Returns
    -------
    ExactCurves1D
        The curves and their limits: 0 (oracle), the least-squares risk
        :math:`\sigma^2/(n - 2)` (in-context loss) and :math:`\psi^2 = 1` (norm).

    Notes
    -----
    :math:`R_N = B(\eta) + \mathbb{E}_Q \mathbb{E}_u[2 C_Q u^2 \mu_{1,N}(t)/t +
    \tau^2 \mu_{2,N}(t)]`, by :func:`icl.theory.best_of_n_risk_1d_averaged`.
    """
    n_values = np.arange(1, integer("n_max", n_max) + 1)
    problem = dict(n=setting.n, sigma2=setting.sigma2, eta=setting.eta)
    exact = {
        r: theory.best_of_n_risk_1d_averaged(n_values, tau, **problem, reward=r) for r in REWARDS
    }
    limit = theory.least_squares_risk(setting.n, 1, setting.sigma2)
    return ExactCurves1D(n_values, exact, {"oracle": 0.0, "in-context loss": limit, "norm": 1.0})


@dataclass(frozen=True)
class CurveFamily:
    r"""The simulated d = 1 curves against the exact ones, as one family of comparisons.

    Attributes
    ----------
    comparisons : int
        The family's size (rewards times N).
    level : float
        The false-alarm level of one z = 4 check, :math:`P(|Z| > 4)`.
    z : float
        The Šidák z that holds the family to that level.
    reward : str
        The reward of the worst comparison.
    N : int
        The N of the worst comparison.
    theory, estimate, stderr : float
        The worst comparison's exact value, simulated mean and standard error.
    largest_abs_z : float
        Its :math:`|z|`.
    ignored : float
        The family's largest ratio of a declared quadrature error to its standard error, in
        the worst comparison's standard error.
    """

    comparisons: int
    level: float
    z: float
    reward: str
    N: int
    theory: float
    estimate: float
    stderr: float
    largest_abs_z: float
    ignored: float

    @property
    def params(self) -> dict:
        r"""The family's parameters as its check records them."""
        return dict(
            reward=self.reward,
            N=self.N,
            rule="Sidak",
            comparisons=self.comparisons,
            family_level=self.level,
            largest_abs_z=self.largest_abs_z,
        )


def curve_family(
    curves: ExactCurves1D, mean: np.ndarray, stderr: np.ndarray, n_grid
) -> CurveFamily:
    r"""Every (reward, N) of the simulated d = 1 curves against the exact value, and the worst.

    Parameters
    ----------
    curves : ExactCurves1D
        The exact curves.
    mean, stderr : numpy.ndarray
        The simulated curves of :func:`risk_curves`, shape (reward, 3, N).
    n_grid : sequence of int
        Their N.

    Returns
    -------
    CurveFamily
        The family's size and Šidák z, and its comparison of largest :math:`|z|`.

    Notes
    -----
    :math:`z_{\rm Sidak} = \Phi^{-1}\big(1 - (1 - (1 - \alpha)^{1/m})/2\big)` for m comparisons
    at the level :math:`\alpha` of one check (:func:`sidak_z`).
    """
    n_grid = np.asarray(n_grid)
    comparisons = len(REWARDS) * len(n_grid)
    level, z = sidak_z(comparisons)
    exact_at = np.array([curves.exact[r][n_grid - 1] for r in REWARDS])
    z_curve = (mean[:, 0] - exact_at) / stderr[:, 0]
    j, i = np.unravel_index(np.abs(z_curve).argmax(), z_curve.shape)
    worst_ratio = max(
        curves.declared_error((r, int(N))) / stderr[jj, 0, ii]
        for jj, r in enumerate(REWARDS)
        for ii, N in enumerate(n_grid)
    )
    return CurveFamily(
        comparisons,
        level,
        z,
        REWARDS[j],
        int(n_grid[i]),
        exact_at[j, i],
        mean[j, 0, i],
        stderr[j, 0, i],
        float(np.abs(z_curve).max()),
        stderr[j, 0, i] * worst_ratio,
    )


@dataclass(frozen=True)
class BestN:
    r"""A simulated curve's best N on the grid, with the drop to it and the rise after it.

    Attributes
    ----------
    index : int
        The best N's index in the grid.
    drop_z, rise_z : float
        :math:`R_1 - R_N` and :math:`R_{N_{\max}} - R_N` at the best N, in paired SEs.
    """

    index: int
    drop_z: float
    rise_z: float


def best_n_of_grid(mean: np.ndarray, stderr: np.ndarray, n_grid, limits: dict) -> tuple[dict, str]:
    r"""Each technique's best N on the grid of a simulated curve, and a report of it.

    Parameters
    ----------
    mean, stderr : numpy.ndarray
        The simulated curves of :func:`risk_curves`, shape (reward, 3, N).
    n_grid : sequence of int
        Their N.
    limits : dict
        Per reward but the oracle, the exact :math:`N \to \infty` limit.

    Returns
    -------
    (dict, str)
        Per reward but the oracle, its :class:`BestN`; and one line per reward: the best N and
        its risk, the risk at the smallest and largest N, the drop and rise in paired SEs, and
        the limit.
    """
    best, lines = {}, []
    for j, r in enumerate(REWARDS[1:], start=1):
        (curve, rise, drop), (_, rise_se, drop_se) = mean[j], stderr[j]
        k = int(curve.argmin())
        best[r] = BestN(k, drop[k] / drop_se[k], rise[k] / rise_se[k])
        lines.append(
            f"n<d: {r:16s} best N of the grid = {n_grid[k]:4d} (risk {curve[k]:.3f}, "
            f"measured); N=1: {curve[0]:.3f}, a drop of "
            f"{best[r].drop_z:.1f} paired SE; N={n_grid[-1]}: {curve[-1]:.3f}, "
            f"a rise of {best[r].rise_z:.1f} paired SE; "
            f"exact N -> inf limit {limits[r]:.3f}"
        )
    return best, "\n".join(lines)


__all__ = [
    "REWARDS",
    "EXACT_REWARDS",
    "OneDim",
    "HighDim",
    "Curves",
    "Sweep",
    "scores",
    "candidates",
    "least_squares_centre",
    "min_of_normals",
    "exact_1d",
    "fixed_prompt_oracle",
    "sweep",
    "ridge_risk",
    "interpolator_risk",
    "small_n",
    "risk_curves",
    "sidak_z",
    "curve_table",
    "shrinkage_table",
    "shrinkage",
    "quadrature_errors",
    "asymptote_table",
    "two_term_law",
    "best_temperature_1d",
    "loss_identity",
    "interpolator_formula",
    "ExactCurves1D",
    "exact_curves_1d",
    "CurveFamily",
    "curve_family",
    "BestN",
    "best_n_of_grid",
]
