"""The settings and experiments of Chapter 5, binary coefficients: votes and pass@k.

The chapter: ``book/ch05_binary_coefficients.md``. The task is ``w`` uniform on ``{-1, +1}^d``
with the prompts of Chapter 1; the decoder emits coefficient ``j`` as a token with logits
``+-w_hat_j / T``, ``w_hat = eta X^T y / n``. Every experiment draws on the run's device and
dtype (:func:`icl.runtime.device`, :func:`icl.runtime.dtype`) and returns
:class:`~icl.harness.montecarlo.Estimate` objects, per-prompt tensors or small result
dataclasses that the chapter checks against the closed forms of
:mod:`icl.theory.binary_decoding`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate, special, stats

from icl import runtime, tasks, theory, validation
from icl.domain import declared_error
from icl.harness import montecarlo
from icl.harness.montecarlo import Estimate
from icl.techniques import pass_at_k, plurality_vote


@dataclass(frozen=True)
class Setting:
    """A prompt setting with rademacher coefficients and the decoder's step size.

    Parameters
    ----------
    n : int
        Examples per prompt, ``n >= 1``.
    d : int
        Coefficients, ``d >= 1``.
    sigma2 : float
        Label-noise variance, ``>= 0``.
    eta : float
        Step size of the one-step estimate ``w_hat = eta X^T y / n``, ``> 0``.
    """

    n: int = 20
    d: int = 10
    sigma2: float = 0.25
    eta: float = 1.0

    def __post_init__(self) -> None:
        validation.integer("n", self.n)
        validation.integer("d", self.d)
        validation.real("sigma2", self.sigma2, minimum=0.0)
        validation.positive("eta", self.eta)

    @property
    def spread(self) -> float:
        """:math:`s^2 = d - 1 + \\sigma^2`, the variance of the rest of a label."""
        return self.d - 1 + self.sigma2

    def prompt_params(self, **extra) -> dict:
        """The parameters a check of the prompt records: ``n``, ``d``, ``sigma2``, then ``extra``.

        Parameters
        ----------
        **extra
            Further parameters of the check, in order.

        Returns
        -------
        dict
        """
        return {"n": self.n, "d": self.d, "sigma2": self.sigma2, **extra}

    def params(self, **extra) -> dict:
        """The parameters a check of the decoder records: ``n``, ``d``, ``sigma2``, ``eta``, then
        ``extra``.

        Parameters
        ----------
        **extra
            Further parameters of the check, in order.

        Returns
        -------
        dict
        """
        return self.prompt_params(eta=self.eta, **extra)

    @property
    def prompt_args(self) -> tuple[int, int, float]:
        """``(n, d, sigma2)``, the leading arguments of the closed forms of the prompt."""
        return self.n, self.d, self.sigma2

    @property
    def decoder_args(self) -> tuple[int, int, float, float]:
        """``(n, d, sigma2, eta)``, the leading arguments of the closed forms of the decoder."""
        return self.n, self.d, self.sigma2, self.eta


CHAPTER = Setting()  # n = 20, d = 10, sigma^2 = 0.25, eta = 1
CHAPTER7 = Setting(16, 8, 4.0)  # the trained transformer's setting of Chapter 7


@dataclass(frozen=True)
class Sizes:
    """The chapter's Monte Carlo sizes at one scale.

    ``single``: prompts per greedy or one-sample check; ``calibration``: per calibration check
    and for the reliability diagram; ``votes``: per vote check; ``vector``: for the vector vote;
    ``many``: for the exact conditional curves; ``exact``: per exact-recovery check;
    ``plurality``: votes per plurality check.
    """

    single: int
    calibration: int
    votes: int
    vector: int
    many: int
    exact: int
    plurality: int

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            validation.integer(name, getattr(self, name), minimum=2)


def sizes() -> Sizes:
    """The chapter's sizes at the run's scale (:func:`icl.runtime.by_scale`).

    Returns
    -------
    Sizes
        ``smoke``: 50,000 to 200,000 prompts per check (10,000 per vote check); ``full``:
        1,000,000 to 2,000,000 (200,000 per vote check).
    """
    return runtime.by_scale(
        smoke=Sizes(50_000, 100_000, 10_000, 40_000, 100_000, 100_000, 200_000),
        full=Sizes(1_000_000, 1_000_000, 200_000, 400_000, 1_000_000, 1_000_000, 2_000_000),
    )


# --- margins and tokens ---


def _prompt_chunks(setting: Setting, batch: int, gen: torch.Generator):
    """``batch`` rademacher prompts of ``setting`` from ``gen``, on the run's device and dtype, in
    as few calls of :func:`icl.tasks.sample_prompts` as :data:`icl.validation.MAX_ENTRIES` allows;
    yields each call's prompts."""
    chunk = validation.MAX_ENTRIES // ((setting.n + 1) * setting.d)
    for start in range(0, batch, chunk):
        yield tasks.sample_prompts(
            min(chunk, batch - start),
            setting.n,
            setting.d,
            prior="rademacher",
            sigma2=setting.sigma2,
            generator=gen,
            device=runtime.device(),
            dtype=runtime.dtype(),
        )


def margins(setting: Setting, batch: int, gen: torch.Generator) -> torch.Tensor:
    """The margins of fresh rademacher prompts.

    Parameters
    ----------
    setting : Setting
        The prompts' ``n``, ``d``, ``sigma2``.
    batch : int
        Prompts to draw, in as few calls of :func:`icl.tasks.sample_prompts` as its
        :data:`icl.validation.MAX_ENTRIES` allows (one where they fit), from ``gen``.
    gen : torch.Generator
        The only source of randomness.

    Returns
    -------
    torch.Tensor
        Shape ``(batch, d)``: :math:`u_j = w_j x_{\\cdot j}^\\top y`, so that
        :math:`w_j \\hat w_j = \\eta u_j / n`.
    """
    parts = [
        p.w * torch.einsum("bnd,bn->bd", p.X, p.y) for p in _prompt_chunks(setting, batch, gen)
    ]
    return torch.cat(parts)


def p_right(u: torch.Tensor, temperature: float, setting: Setting = CHAPTER) -> torch.Tensor:
    """The probability that a token sampled at temperature ``T`` is right, given its margin.

    Parameters
    ----------
    u : torch.Tensor
        Margins, any shape.
    temperature : float
        The sampling temperature ``T > 0``.
    setting : Setting
        Supplies ``n`` and ``eta``.

    Returns
    -------
    torch.Tensor
        The shape of ``u``.

    Notes
    -----
    :math:`p = \\operatorname{sigmoid}(2 \\eta u / (n T))`.
    """
    return torch.sigmoid(2 * setting.eta * u / (setting.n * temperature))


def greedy_error(setting: Setting, prompts: int, seed: int) -> Estimate:
    """The fraction of wrong signs of greedy decoding, one draw per prompt.

    Parameters
    ----------
    setting : Setting
        The prompts.
    prompts : int
        Prompts to draw.
    seed : int
        Seed of the Monte Carlo stream.

    Returns
    -------
    Estimate
        Of :math:`P(\\operatorname{sign} \\hat w_j \\ne w_j)`; each draw is the mean over the
        ``d`` coefficients of a prompt.
    """

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        return (margins(setting, batch, gen) < 0).to(runtime.dtype()).mean(1)

    return montecarlo.estimate_mean(sample, prompts, seed=seed)


def sampled_error(setting: Setting, temperature: float, prompts: int, seed: int) -> Estimate:
    """The fraction of wrong tokens when each coefficient is sampled once at a temperature.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    temperature : float
        The sampling temperature.
    prompts : int
        Prompts to draw.
    seed : int
        Seed of the Monte Carlo stream.

    Returns
    -------
    Estimate
        Of :math:`E[\\operatorname{sigmoid}(-2\\eta u/(nT))]`, one draw per prompt (the mean
        over its ``d`` tokens).
    """
    dev, dt = runtime.device(), runtime.dtype()

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        p = p_right(margins(setting, batch, gen), temperature, setting)
        wrong = torch.rand(p.shape, generator=gen, device=dev, dtype=dt) >= p
        return wrong.to(dt).mean(1)

    return montecarlo.estimate_mean(sample, prompts, seed=seed)


def margin_masses(setting: Setting) -> tuple[float, float]:
    """The mass of the margin density below and above zero, by quadrature.

    Parameters
    ----------
    setting : Setting
        The prompts.

    Returns
    -------
    tuple of float
        :math:`(\\int_{-\\infty}^0 f, \\int_0^\\infty f)` for :func:`theory.margin_density`.
    """
    s = setting

    def density(u):
        return theory.margin_density(u, n=s.n, d=s.d, sigma2=s.sigma2)

    return integrate.quad(density, -np.inf, 0)[0], integrate.quad(density, 0, np.inf)[0]


def large_temperature_errors(
    setting: Setting, temperatures: Sequence[float] = (10.0, 100.0, 1000.0)
) -> list[tuple[float, float, float]]:
    """The one-sample error at large temperatures against its expansion.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    temperatures : sequence of float
        Temperatures to evaluate.

    Returns
    -------
    list of tuple
        ``(T, exact error, 1/2 - eta/(2T))`` for each ``T``.
    """
    s = setting
    return [
        (T, theory.sampled_sign_error(s.n, s.d, s.sigma2, s.eta, T), 0.5 - s.eta / (2 * T))
        for T in temperatures
    ]


# --- calibration ---

TEST_FUNCTIONS: dict[str, Callable] = {"sign": np.sign, "linear": lambda h: h}


def calibration_residuals(setting: Setting, t_cal: float, prompts: int, seed: int) -> Estimate:
    """The calibration residuals of the linear decoder for the two odd test functions.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    t_cal : float
        The temperature whose sigmoid is tested as the posterior.
    prompts : int
        Prompts to draw.
    seed : int
        Seed of the Monte Carlo stream.

    Returns
    -------
    Estimate
        Two components, for ``g = sign`` and ``g(h) = h``: per prompt the mean over ``j`` of
        :math:`(\\mathbf 1\\{w_j = +1\\} - \\operatorname{sigmoid}(2\\hat w_j/T))\\,
        g(\\hat w_j/T)`.
    """
    s, dev, dt = setting, runtime.device(), runtime.dtype()

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        p = tasks.sample_prompts(
            batch,
            s.n,
            s.d,
            prior="rademacher",
            sigma2=s.sigma2,
            generator=gen,
            device=dev,
            dtype=dt,
        )
        w_hat = s.eta * torch.einsum("bnd,bn->bd", p.X, p.y) / s.n
        residual = (p.w > 0).to(dt) - torch.sigmoid(2 * w_hat / t_cal)
        return torch.stack(
            [(residual * torch.sign(w_hat)).mean(1), (residual * w_hat / t_cal).mean(1)], 1
        )

    return montecarlo.estimate_mean(sample, prompts, seed=seed)


def residual_if(setting: Setting, t_wrong: float, g: Callable, t_cal: float) -> float:
    """The calibration residual if the posterior were a sigmoid at a wrong temperature.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    t_wrong : float
        The wrong posterior temperature ``T'``.
    g : callable
        The test function, applied to ``w_hat / T_cal``.
    t_cal : float
        The calibration temperature.

    Returns
    -------
    float
        By quadrature against the margin density ``f``.

    Notes
    -----
    :math:`E[(\\operatorname{sigmoid}(2\\hat w/T') - \\operatorname{sigmoid}(2\\hat w/T_{cal}))
    \\,g(\\hat w/T_{cal})]`, with :math:`\\hat w = \\eta u / n`.
    """
    s = setting

    def integrand(u):
        return (
            (
                special.expit(2 * s.eta * u / (s.n * t_wrong))
                - special.expit(2 * s.eta * u / (s.n * t_cal))
            )
            * g(s.eta * u / (s.n * t_cal))
            * theory.margin_density(u, s.n, s.d, s.sigma2)
        )

    return sum(
        integrate.quad(integrand, lo, hi, limit=200)[0]
        for lo, hi in [(-np.inf, 0.0), (0.0, np.inf)]
    )


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram: per bin of ``w_hat_j``, its mean, the frequency of ``w_j = +1`` and
    that frequency's standard error."""

    h: np.ndarray
    frequency: np.ndarray
    stderr: np.ndarray


def reliability(setting: Setting, prompts: int, seed: int, edges: np.ndarray) -> Reliability:
    """The frequency of ``w_j = +1`` in bins of the one-step estimate, on fresh prompts.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    prompts : int
        Prompts to draw, in as few batches as :func:`icl.tasks.sample_prompts` allows (one
        where they fit its :data:`icl.validation.MAX_ENTRIES`), from one generator.
    seed : int
        Seed of the generator.
    edges : numpy.ndarray
        Bin edges of ``w_hat_j``; bins with 100 values or fewer are dropped.

    Returns
    -------
    Reliability
    """
    s = setting
    gen = runtime.generator(seed, runtime.device())
    w_hat, plus = [], []
    for p in _prompt_chunks(s, prompts, gen):
        w_hat.append((s.eta * torch.einsum("bnd,bn->bd", p.X, p.y) / s.n).flatten().cpu())
        plus.append((p.w > 0).flatten().cpu())
    w_hat, plus = torch.cat(w_hat).numpy(), torch.cat(plus).numpy()
    which = np.digitize(w_hat, edges) - 1
    inside = [b for b in range(len(edges) - 1) if (which == b).sum() > 100]
    freq = np.array([plus[which == b].mean() for b in inside])
    err = np.array([plus[which == b].std() / math.sqrt((which == b).sum()) for b in inside])
    return Reliability(np.array([w_hat[which == b].mean() for b in inside]), freq, err)


# --- majority votes ---


def vote_right(p: torch.Tensor, N: int, gen: torch.Generator) -> torch.Tensor:
    """The per-coefficient majority vote of ``N`` tokens, ties broken by a fair coin.

    Parameters
    ----------
    p : torch.Tensor
        Right-probabilities of the tokens, shape ``(B, d)``.
    N : int
        Votes per coefficient.
    gen : torch.Generator
        Draws the ``N`` tokens, then the coins.

    Returns
    -------
    torch.Tensor
        Shape ``(B, d)``, bool: whether each coefficient's vote is right.
    """
    votes = torch.rand((*p.shape, N), generator=gen, device=p.device, dtype=p.dtype) < p[..., None]
    votes = votes.sum(-1)
    coin = torch.rand(p.shape, generator=gen, device=p.device, dtype=p.dtype) < 0.5
    return (2 * votes > N) | ((2 * votes == N) & coin)


def vote_accuracy(
    setting: Setting, N: int, temperature: float, prompts: int, seed: int
) -> Estimate:
    """The accuracy of the per-coefficient vote, and its difference from greedy on the same
    prompts.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    N : int
        Votes per coefficient.
    temperature : float
        The sampling temperature.
    prompts : int
        Prompts to draw (in chunks of 4096).
    seed : int
        Seed of the Monte Carlo stream.

    Returns
    -------
    Estimate
        Two components per prompt, each a mean over the ``d`` coefficients: the vote is right;
        the vote is right minus greedy is right.
    """
    dt = runtime.dtype()

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        u = margins(setting, batch, gen)
        vote = vote_right(p_right(u, temperature, setting), N, gen).to(dt)
        return torch.stack([vote.mean(1), (vote - (u > 0).to(dt)).mean(1)], 1)

    return montecarlo.estimate_mean(sample, prompts, seed=seed, chunk_size=4096)


def ties_lost(setting: Setting, N: int, temperature: float) -> float:
    """The vote's accuracy with ties counted as wrong, a wrong formula for uniform tie-breaking.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    N : int
        Votes per coefficient.
    temperature : float
        The sampling temperature.

    Returns
    -------
    float
        :math:`E[P(\\mathrm{Bin}(N, p) > N/2)]`, ``p`` the token's right-probability.
    """
    s = setting
    if N % 2:
        return theory.vote_sign_accuracy(s.n, s.d, s.sigma2, s.eta, temperature, N) - 0.0

    def tie(u):
        p = special.expit(2 * s.eta * u / (s.n * temperature))
        return stats.binom.pmf(N // 2, N, p) * theory.margin_density(u, s.n, s.d, s.sigma2)

    half_tie = 0.5 * integrate.quad(tie, -np.inf, np.inf, limit=200)[0]
    return theory.vote_sign_accuracy(s.n, s.d, s.sigma2, s.eta, temperature, N) - half_tie


def vote_rejects(setting: Setting, temperature: float, N: int) -> dict[str, float]:
    """The wrong formulas a check of the per-coefficient vote must reject.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    temperature : float
        The sampling temperature.
    N : int
        Votes per coefficient.

    Returns
    -------
    dict
        Label -> value. At ``N = 1``: the greedy accuracy (the ``N -> infinity`` limit) and the
        factor-2 slip :math:`1 - \\varepsilon(2T)`; at ``N = 2, 4``: ties counted as wrong
        (:func:`ties_lost`); from ``N = 4``: :math:`A_N(1 - \\varepsilon(T))`, votes
        independent across prompts.
    """
    s = setting
    one_sample = 1 - theory.sampled_sign_error(*s.decoder_args, temperature)
    rejects = {}
    if N == 1:
        rejects = {
            "greedy accuracy (the N -> infinity limit)": 1
            - theory.greedy_sign_error(*s.prompt_args),
            "logits +-w_hat/(2T)": 1 - theory.sampled_sign_error(*s.decoder_args, 2 * temperature),
        }
    if N in (2, 4):
        rejects["ties counted as wrong"] = ties_lost(s, N, temperature)
    if N >= 4:
        rejects["A_N(1 - eps(T)): votes independent across prompts"] = (
            theory.majority_vote_accuracy(one_sample, N)
        )
    return rejects


@dataclass(frozen=True)
class PairingRule:
    """Gauss-Legendre panels on ``u > 0`` for the vote's gap to greedy.

    ``u`` are the nodes and ``weight`` the quadrature weights times
    :math:`f(u)\\,(e^{-2u/s^2} - 1)`.
    """

    setting: Setting
    u: np.ndarray
    weight: np.ndarray

    def gap(self, N: int, temperature: float) -> float:
        """The vote's accuracy minus greedy's at ``N`` votes and temperature ``T``.

        Parameters
        ----------
        N : int
            Votes per coefficient.
        temperature : float
            The sampling temperature.

        Returns
        -------
        float
            :math:`\\int_0^\\infty f(u)\\,(1 - A_N(\\operatorname{sigmoid}(cu)))
            (e^{-2u/s^2} - 1)\\,du`, :math:`c = 2\\eta/(nT)`.
        """
        s = self.setting
        p = special.expit(2 * s.eta * self.u / (s.n * temperature))
        return float(self.weight @ (1 - theory.majority_vote_accuracy(p, N)))


def pairing_rule(setting: Setting, panels: int = 80, nodes: int = 20) -> PairingRule:
    """The panels of :class:`PairingRule`: ``panels`` geometric panels from 1e-4 to far in the
    tail, ``nodes`` Gauss-Legendre nodes each (plus one panel from zero).

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    panels, nodes : int
        Panels and nodes per panel.

    Returns
    -------
    PairingRule
    """
    s = setting
    edges = np.concatenate([[0.0], np.geomspace(1e-4, 60 * math.sqrt(s.n * (s.d + 1.25)), panels)])
    x, w = np.polynomial.legendre.leggauss(nodes)
    u = ((edges[1:] - edges[:-1])[:, None] * (x + 1) / 2 + edges[:-1, None]).ravel()
    weight = ((edges[1:] - edges[:-1])[:, None] * w / 2).ravel()
    weight = weight * theory.margin_density(u, s.n, s.d, s.sigma2) * np.expm1(-2 * u / s.spread)
    return PairingRule(s, u, weight)


def vote_curves(
    setting: Setting, temperatures: Sequence[float], votes: Sequence[int], sampled: Sequence[float]
) -> dict:
    """The exact curves of the chapter's first figure.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    temperatures : sequence of float
        The grid of the one-sample error.
    votes : sequence of int
        The grid of numbers of votes.
    sampled : sequence of float
        The temperatures of the vote curves.

    Returns
    -------
    dict
        ``T``, ``error`` (one sample at each ``T``), ``greedy_error``, ``N`` and ``vote``
        (a dict temperature -> the vote's exact accuracy at each ``N``), ``greedy`` (accuracy).
    """
    s = setting
    T = np.asarray(temperatures, dtype=float)
    return {
        "T": T,
        "error": np.array([theory.sampled_sign_error(s.n, s.d, s.sigma2, s.eta, t) for t in T]),
        "greedy_error": theory.greedy_sign_error(s.n, s.d, s.sigma2),
        "N": np.asarray(votes),
        "vote": {
            t: np.array(
                [theory.vote_sign_accuracy(s.n, s.d, s.sigma2, s.eta, t, int(N)) for N in votes]
            )
            for t in sampled
        },
        "greedy": 1 - theory.greedy_sign_error(s.n, s.d, s.sigma2),
    }


def gap_table(votes: Sequence[int], temperatures: Sequence[float], gaps: np.ndarray) -> str:
    """The vote's gap to greedy as a table, rows ``T`` and columns ``N``.

    Parameters
    ----------
    votes : sequence of int
        The columns' ``N``.
    temperatures : sequence of float
        The rows' ``T``.
    gaps : numpy.ndarray
        Shape ``(len(temperatures), len(votes))``.

    Returns
    -------
    str
        A title line, a header and one line per temperature, then the range of the gaps.
    """
    lines = ["vote minus greedy accuracy (rows T, columns N):"]
    lines.append("   T \\ N " + "".join(f"{N:>10d}" for N in votes))
    for T, row in zip(temperatures, gaps):
        lines.append(f"{T:8.3f} " + "".join(f"{g:10.2e}" for g in row))
    lines.append(f"over {gaps.size} cells: all negative, from {gaps.min():.4f} to {gaps.max():.2e}")
    return "\n".join(lines)


# --- the whole vector ---


def greedy_recovery(setting: Setting, prompts: int, seed: int) -> Estimate:
    """How often greedy decoding recovers the whole vector.

    Parameters
    ----------
    setting : Setting
        The prompts.
    prompts : int
        Prompts to draw.
    seed : int
        Seed of the Monte Carlo stream.

    Returns
    -------
    Estimate
        Of :math:`P(\\operatorname{sign} \\hat w = w)`.
    """

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        return (margins(setting, batch, gen) > 0).all(1).to(runtime.dtype())

    return montecarlo.estimate_mean(sample, prompts, seed=seed)


def independent_given_y(setting: Setting) -> float:
    """Greedy exact recovery if the margins were independent given ``y``: a wrong formula.

    Parameters
    ----------
    setting : Setting
        The prompts.

    Returns
    -------
    float
        :math:`E_V[\\Phi(\\sqrt{V/s^2})^d]`, :math:`\\sqrt V \\sim \\chi_n`: the margins' shared
        scale kept, their negative correlation dropped.
    """
    s = setting
    return integrate.quad(
        lambda t: stats.chi.pdf(t, s.n) * special.ndtr(t / math.sqrt(s.spread)) ** s.d,
        0,
        math.sqrt(s.n) + 12,
    )[0]


@dataclass(frozen=True)
class VectorVote:
    """The coordinate-wise vote of ``N`` tokens on given prompts.

    ``exact``: per prompt, :math:`q = \\prod_j A_N(p_j)` (float64, CPU); ``hit``: whether the
    simulated vote recovered the vector; ``per_coefficient``: :math:`A_N(p_j)`, shape
    ``(B, d)``; ``ties_lost``: for even ``N``, the mean over prompts of
    :math:`\\prod_j P(\\mathrm{Bin}(N, p_j) > N/2)` (ties counted as wrong), else ``None``;
    ``bias_bound``: ``d`` times the declared error of :func:`theory.majority_vote_accuracy` on
    ``per_coefficient`` (a product of ``d`` numbers in [0, 1] moves by at most the sum of their
    errors).
    """

    exact: torch.Tensor
    hit: torch.Tensor
    per_coefficient: np.ndarray
    ties_lost: float | None
    bias_bound: float


def vector_vote(
    u: torch.Tensor, N: int, temperature: float, gen: torch.Generator, setting: Setting = CHAPTER
) -> VectorVote:
    """Vote coefficient by coefficient on prompts of given margins, and the exact chance.

    Parameters
    ----------
    u : torch.Tensor
        Margins, shape ``(B, d)``.
    N : int
        Votes per coefficient.
    temperature : float
        The sampling temperature.
    gen : torch.Generator
        Draws the votes.
    setting : Setting
        Supplies ``n`` and ``eta``.

    Returns
    -------
    VectorVote

    Notes
    -----
    :math:`P(\\text{vote recovers } w \\mid \\text{prompt}) = \\prod_j A_N(p_j)`.
    """
    p = p_right(u, temperature, setting)
    per_coefficient = theory.majority_vote_accuracy(p.cpu().numpy(), N)
    q = torch.from_numpy(per_coefficient).prod(1)
    hit = vote_right(p, N, gen).all(1).to(torch.float64).cpu()
    lost = None
    if N % 2 == 0:
        sf = stats.binom.sf(N // 2, N, p.cpu().numpy())
        lost = float(torch.from_numpy(sf).prod(1).mean())
    bound = u.shape[1] * declared_error(theory.majority_vote_accuracy, per_coefficient)
    return VectorVote(q, hit, per_coefficient, lost, bound)


def vector_vote_rejects(
    vote: VectorVote, N: int, temperature: float, greedy: float, setting: Setting = CHAPTER
) -> dict[str, float]:
    """The wrong formulas a check of the vector vote must reject.

    Parameters
    ----------
    vote : VectorVote
        The vote on the check's prompts.
    N : int
        Votes per coefficient.
    temperature : float
        The sampling temperature.
    greedy : float
        Greedy exact recovery, the ``N -> infinity`` limit.
    setting : Setting
        The prompts and ``eta``.

    Returns
    -------
    dict
        Label -> value. Below ``N = 25``: the greedy exact recovery, and at ``N = 4`` the vote
        with ties counted as wrong on the same prompts; from ``N = 25``: independent
        coefficients, :math:`E[A_N]^d` (:func:`independent_votes`).
    """
    if N >= 25:
        return {"independent coefficients E[A_N]^d": independent_votes(setting, temperature, N)}
    wrong = {"greedy exact recovery (the N -> infinity limit)": greedy}
    if N == 4:
        wrong["ties counted as wrong"] = vote.ties_lost
    return wrong


def independent_votes(setting: Setting, temperature: float, N: int) -> float:
    """The vector vote's accuracy if the coefficients were independent: a wrong formula.

    Parameters
    ----------
    setting : Setting
        The prompts and ``eta``.
    temperature : float
        The sampling temperature.
    N : int
        Votes per coefficient.

    Returns
    -------
    float
        :math:`E[A_N]^d`, the per-coefficient vote accuracy to the power ``d``.
    """
    return theory.vote_sign_accuracy(*setting.decoder_args, temperature, N) ** setting.d


def recovery_deficits(
    u: torch.Tensor, votes: Sequence[int], temperature: float, setting: Setting = CHAPTER
) -> tuple[Estimate, dict[int, Estimate]]:
    """How far the exact vector vote lies below greedy exact recovery, scaled by ``N``.

    Parameters
    ----------
    u : torch.Tensor
        Margins, shape ``(B, d)``.
    votes : sequence of int
        Numbers of votes ``N``.
    temperature : float
        The sampling temperature.
    setting : Setting
        Supplies ``n`` and ``eta``.

    Returns
    -------
    tuple
        The greedy exact recovery on these prompts (the ``N -> infinity`` limit), and for each
        ``N`` the mean over prompts of :math:`N(\\mathbf 1\\{\\text{all } u_j > 0\\} -
        \\prod_j A_N(p_j))`.
    """
    limit = (u > 0).all(1).to(torch.float64)
    p = p_right(u, temperature, setting).cpu().numpy()
    deficits = {}
    for N in votes:
        deficit = limit.numpy() - theory.majority_vote_accuracy(p, N).prod(1)
        deficits[N] = Estimate.from_values(N * deficit)
    return Estimate.from_values(limit), deficits


# --- pass@k ---


def pass_curves(
    u: torch.Tensor, temperatures: np.ndarray, ks: Sequence[int], setting: Setting = CHAPTER
) -> dict[int, np.ndarray]:
    """Exact pass@k given each prompt, averaged over the prompts, on a grid of temperatures.

    Parameters
    ----------
    u : torch.Tensor
        Margins, shape ``(B, d)``, shared by every temperature.
    temperatures : numpy.ndarray
        The grid.
    ks : sequence of int
        The values of ``k``.
    setting : Setting
        Supplies ``n`` and ``eta``.

    Returns
    -------
    dict
        ``k`` -> pass@k at each temperature.

    Notes
    -----
    :math:`\\text{pass@}k = E[1 - (1 - q)^k]`, :math:`q = \\prod_j p_j`.
    """
    log_q = torch.stack([torch.log(p_right(u, T, setting)).sum(1) for T in temperatures])
    return {k: pass_at_k(torch.exp(log_q), k).mean(1).numpy() for k in ks}


def pass_at_k_draws(
    u: torch.Tensor,
    k: int,
    temperature: float,
    samples: int,
    gen: torch.Generator,
    setting: Setting = CHAPTER,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The unbiased pass@k estimator from ``samples`` sampled answers per prompt.

    Parameters
    ----------
    u : torch.Tensor
        Margins, shape ``(B, d)``.
    k : int
        The ``k`` of pass@k.
    temperature : float
        The sampling temperature.
    samples : int
        Answers per prompt, ``>= k``.
    gen : torch.Generator
        Draws the answers.
    setting : Setting
        Supplies ``n`` and ``eta``.

    Returns
    -------
    tuple of torch.Tensor
        Per prompt (float64, CPU): the estimator
        :math:`1 - \\binom{m - c}{k}/\\binom{m}{k}` (``m`` samples, ``c`` exactly right), and
        the chance :math:`q = \\prod_j p_j` that one answer is exactly right.
    """
    p = p_right(u, temperature, setting)
    draws = torch.rand((*p.shape, samples), generator=gen, device=p.device, dtype=p.dtype)
    right = (draws < p[..., None]).all(1).sum(-1)
    estimator = theory.unbiased_pass_at_k(torch.full_like(right, samples), right, k)
    return estimator.cpu().to(torch.float64), p.prod(1).cpu().to(torch.float64)


# --- plurality votes ---


def brute_vote(probs: Sequence[float], N: int, tie_weight: float | None = None) -> float:
    """The chance that answer 0 wins a plurality vote, by a sum over all count vectors.

    Parameters
    ----------
    probs : sequence of float
        The answers' probabilities.
    N : int
        Votes (small: the sum has ``(N + 1)^len(probs)`` terms).
    tie_weight : float or None
        ``None``: a tie among ``J`` answers is won with probability ``1/J``; else a tie is
        won with this probability.

    Returns
    -------
    float
        :math:`\\sum_{c:\\,c_0 = \\max c} w(c)\\, N! \\prod_a p_a^{c_a}/c_a!`.
    """
    total = 0.0
    for counts in itertools.product(range(N + 1), repeat=len(probs)):
        if sum(counts) == N and counts[0] == max(counts):
            tied = sum(c == counts[0] for c in counts)
            weight = (1 / tied) if tie_weight is None else (1.0 if tied == 1 else tie_weight)
            total += (
                weight
                * math.factorial(N)
                * np.prod([p**c / math.factorial(c) for p, c in zip(probs, counts)])
            )
    return total


def plurality_wins(probs: np.ndarray, N: int, votes: int, seed: int) -> Estimate:
    """How often answer 0 wins a simulated plurality vote of ``N`` draws.

    Parameters
    ----------
    probs : numpy.ndarray
        The answers' probabilities.
    N : int
        Draws per vote.
    votes : int
        Votes to simulate.
    seed : int
        Seed of the Monte Carlo stream.

    Returns
    -------
    Estimate
        Of the vote's accuracy, ties broken uniformly (:func:`icl.techniques.plurality_vote`).
    """
    dev, dt = runtime.device(), runtime.dtype()

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        answers = torch.multinomial(
            torch.as_tensor(probs, device=dev), batch * N, replacement=True, generator=gen
        ).reshape(batch, N)
        return (plurality_vote(answers, gen) == 0).to(dt)

    return montecarlo.estimate_mean(sample, votes, seed=seed)


def three_answer_vote(p1: float, p2: float, N: int) -> float:
    """The exact accuracy of a plurality vote over three answers.

    Parameters
    ----------
    p1 : float
        Probability of the correct answer.
    p2 : float
        Probability of the runner-up; the third answer has ``1 - p1 - p2``.
    N : int
        Draws.

    Returns
    -------
    float
        :math:`P(\\text{the correct answer wins})`, ties broken uniformly.

    Notes
    -----
    Given the correct count ``m``, the runner-up's count is
    :math:`C \\sim \\mathrm{Bin}(N - m, p_2/(1 - p_1))` and the third answer takes the rest.
    """
    m = np.arange(1, N + 1)
    rest = N - m  # shared by the runner-up, C, and the third answer, rest - C
    other = stats.binom(rest, p2 / (1 - p1))
    both_below = np.clip(other.cdf(m - 1) - other.cdf(rest - m), 0, None)  # rest - m < C < m
    one_tie = np.where(rest < 2 * m, 0.5 * (other.pmf(m) + other.pmf(rest - m)), 0.0)
    two_ties = np.where(rest == 2 * m, other.pmf(m) / 3, 0.0)
    return float((stats.binom.pmf(m, N, p1) * (both_below + one_tie + two_ties)).sum())


def samples_needed(p1: float, p2: float, target: float = 0.9) -> int:
    """The smallest odd ``N`` whose three-answer vote reaches the target accuracy.

    Parameters
    ----------
    p1, p2 : float
        As in :func:`three_answer_vote`.
    target : float
        The accuracy to reach.

    Returns
    -------
    int
        Found by doubling, then bisection over odd ``N``.
    """
    hi = 1
    while three_answer_vote(p1, p2, hi) < target:
        hi = 2 * hi + 1
    lo = (hi - 1) // 2  # odd, below target (or 0)
    while hi - lo > 2:
        mid = (lo + hi) // 2 | 1
        lo, hi = (mid, hi) if three_answer_vote(p1, p2, mid) < target else (lo, mid)
    return hi


def samples_table(
    gaps: Sequence[float], rest: float = 0.1, miss: float = 0.1
) -> list[tuple[float, int, float, int]]:
    """Samples needed to reach accuracy ``1 - miss``: the vote against a perfect verifier.

    Parameters
    ----------
    gaps : sequence of float
        Gaps :math:`\\Delta = p_1 - p_2`; :math:`p_{1,2} = (1 - \\text{rest} \\pm \\Delta)/2`.
    rest : float
        The third answer's probability.
    miss : float
        The failure probability :math:`\\delta` allowed.

    Returns
    -------
    list of tuple
        ``(gap, the vote's exact N, its normal approximation, best-of-N's N)``.

    Notes
    -----
    Normal approximation :math:`z_\\delta^2 (p_1 + p_2 - \\Delta^2)/\\Delta^2`; best-of-N with
    a perfect verifier :math:`\\lceil \\log\\delta / \\log(1 - p_1) \\rceil`.
    """
    z = stats.norm.isf(miss)
    rows = []
    for gap in gaps:
        p1, p2 = (1 - rest + gap) / 2, (1 - rest - gap) / 2
        rows.append(
            (
                gap,
                samples_needed(p1, p2, 1 - miss),
                z**2 * (p1 + p2 - gap**2) / gap**2,
                math.ceil(math.log(miss) / math.log(1 - p1)),
            )
        )
    return rows
