"""The settings and experiments of Chapter 2, chain of thought as gradient descent.

The chapter: ``book/ch02_chain_of_thought.md``. The experiments draw prompts or designs on the
run's device and dtype (:func:`icl.runtime.device`, :func:`icl.runtime.dtype`), run the GD chain
(:func:`icl.decoders.gd_chains.sample_chains`) or the thought transformer, and return
:class:`~icl.harness.montecarlo.Estimate` objects or small result dataclasses that the chapter
checks against :mod:`icl.theory.gradient_descent` and :mod:`icl.theory.wishart`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from icl import runtime, tasks, theory, validation
from icl.decoders.gd_chains import sample_chains
from icl.harness import montecarlo
from icl.harness.montecarlo import Estimate
from icl.models.thought_transformer import ThoughtTransformer, train_thought_transformer
from icl.models.training import TrainingHistory

Sampler = Callable[[int, torch.Generator], torch.Tensor]


def _positive_ints(self, *names: str) -> None:
    for name in names:
        validation.integer(name, getattr(self, name))


@dataclass(frozen=True)
class Rollout:
    """The hand-built GD layer's autoregressive rollout: ``steps`` thoughts of step ``eta`` on
    ``batch`` prompts of ``n`` examples in dimension ``d`` (label noise ``sigma2``)."""

    d: int
    n: int
    steps: int
    batch: int
    eta: float = 0.1
    sigma2: float = 0.5

    def __post_init__(self) -> None:
        _positive_ints(self, "d", "n", "steps", "batch")
        validation.positive("eta", self.eta)
        validation.real("sigma2", self.sigma2, minimum=0.0)


@dataclass(frozen=True)
class Training:
    """Teacher-forced training of the thought transformer on GD chains of ``thoughts`` steps of
    size ``eta``: ``steps`` Adam steps at learning rate ``lr`` (cosine decay) on batches of
    ``batch`` fresh prompts; initial weights :math:`N(0, \\text{init\\_std}^2)` drawn with
    ``init_seed``, prompts with ``seed``."""

    d: int
    n: int
    steps: int
    batch: int
    eta: float = 0.1
    thoughts: int = 10
    sigma2: float = 0.5
    lr: float = 1e-2
    init_std: float = 0.01
    init_seed: int = 1
    seed: int = 2

    def __post_init__(self) -> None:
        _positive_ints(self, "d", "n", "steps", "batch", "thoughts")
        for name in ("eta", "lr", "init_std"):
            validation.positive(name, getattr(self, name))
        validation.real("sigma2", self.sigma2, minimum=0.0)
        validation.integer("init_seed", self.init_seed, minimum=0)
        validation.integer("seed", self.seed, minimum=0)


@dataclass(frozen=True)
class Sizes:
    """The chapter's sizes at one scale: ``checks`` prompts per check of the chain, ``designs``
    designs per check over X, the ``rollout`` and the ``training``."""

    checks: int
    designs: int
    rollout: Rollout
    training: Training

    def __post_init__(self) -> None:
        validation.integer("checks", self.checks, minimum=8)
        validation.integer("designs", self.designs, minimum=2)


def sizes() -> Sizes:
    """The chapter's sizes at the run's scale (:func:`icl.runtime.by_scale`).

    Returns
    -------
    Sizes
        ``smoke``: 40,000 prompts and 20,000 designs per check, d = 5, n = 10;
        ``full``: 1,000,000 and 400,000, d = 10, n = 20.
    """
    return runtime.by_scale(
        smoke=Sizes(
            40_000,
            20_000,
            Rollout(d=5, n=10, steps=150, batch=32),
            Training(d=5, n=10, steps=400, batch=256),
        ),
        full=Sizes(
            1_000_000,
            400_000,
            Rollout(d=10, n=20, steps=1000, batch=1024),
            Training(d=10, n=20, steps=800, batch=1024),
        ),
    )


def gd_rollout_error(setting: Rollout, generator: torch.Generator) -> torch.Tensor:
    """The relative error of the hand-built GD layer's rollout against the GD recursion.

    Parameters
    ----------
    setting : Rollout
        Sizes and step.
    generator : torch.Generator
        Draws the prompts (on the run's device).

    Returns
    -------
    torch.Tensor
        ``(batch, steps)``: :math:`\\|\\hat w_t - w_t\\| / \\|w_t\\|` for t = 1..steps, where
        :math:`\\hat w_t` is the thought emitted by
        :meth:`~icl.models.thought_transformer.ThoughtTransformer.rollout` with
        :meth:`~icl.models.thought_transformer.ThoughtTransformer.gd_weights` and
        :math:`w_{t+1} = w_t - \\eta X^\\top (X w_t - y) / n`.
    """
    s, dev = setting, runtime.device()
    p = tasks.sample_prompts(s.batch, s.n, s.d, sigma2=s.sigma2, generator=generator, device=dev)
    model = ThoughtTransformer.gd_weights(s.d, s.eta, device=dev, dtype=runtime.dtype())
    rolled = model.rollout(p.X, p.y, s.steps)
    path = sample_chains(p.X, p.y, eta=s.eta, steps=s.steps, return_path=True)[:, 0]
    return ((rolled - path).norm(dim=-1) / path.norm(dim=-1).clamp(min=1e-30))[:, 1:]


@dataclass(frozen=True)
class TrainedThoughts:
    """A trained thought transformer: its ``setting``, ``model`` and training ``history``."""

    setting: Training
    model: ThoughtTransformer
    history: TrainingHistory


def train(setting: Training) -> TrainedThoughts:
    """Train a :class:`~icl.models.thought_transformer.ThoughtTransformer` by teacher forcing.

    Parameters
    ----------
    setting : Training
        Sizes, chain, optimiser and seeds.

    Returns
    -------
    TrainedThoughts
        The model on the run's device and dtype, and its history.

    Notes
    -----
    The loss is the mean over prompts and positions of :math:`\\|\\hat w_{t+1} - w_{t+1}\\|^2`
    given the true :math:`w_t` (:func:`icl.models.thought_transformer.train_thought_transformer`).
    """
    s, dev = setting, runtime.device()
    model = ThoughtTransformer(
        s.d,
        init_std=s.init_std,
        generator=runtime.generator(s.init_seed, dev),
        device=dev,
        dtype=runtime.dtype(),
    )
    history = train_thought_transformer(
        model,
        n=s.n,
        eta=s.eta,
        thoughts=s.thoughts,
        steps=s.steps,
        batch=s.batch,
        lr=s.lr,
        seed=s.seed,
        sigma2=s.sigma2,
    )
    return TrainedThoughts(setting, model, history)


@dataclass(frozen=True)
class EmittedErrors:
    """How well a trained layer emits GD thoughts: ``teacher`` the largest teacher-forced error
    relative to the GD update, ``rollout`` ``(prompts, length)`` the free rollout's relative
    errors at t = 1..length, ``length`` the rollout's length."""

    teacher: float
    rollout: torch.Tensor
    length: int


def emitted_errors(
    trained: TrainedThoughts, *, prompts: int = 256, lengthen: int = 10, seed: int = 3
) -> EmittedErrors:
    """The trained layer's thoughts on fresh prompts, against the GD chain.

    Parameters
    ----------
    trained : TrainedThoughts
        The trained layer.
    prompts : int
        Number of fresh prompts, drawn with ``seed``.
    lengthen : int
        The free rollout runs ``lengthen`` times the training chain's length.
    seed : int
        Seed of the prompts.

    Returns
    -------
    EmittedErrors
        ``teacher``: :math:`\\max \\|\\hat w_{t+1} - w_{t+1}\\| / \\|w_{t+1} - w_t\\|`
        given the true :math:`w_t`, t < T; ``rollout``:
        :math:`\\|\\hat w_t - w_t\\| / \\|w_t\\|` of the free rollout.
    """
    s, model, dev = trained.setting, trained.model, runtime.device()
    length, T = lengthen * s.thoughts, s.thoughts
    q = tasks.sample_prompts(
        prompts, s.n, s.d, sigma2=s.sigma2, generator=runtime.generator(seed, dev), device=dev
    )
    truth = sample_chains(q.X, q.y, eta=s.eta, steps=length, return_path=True)[:, 0]
    with torch.no_grad():
        emitted = model.next_thoughts(q.X, q.y, truth[:, :T])
    update = truth[:, 1 : T + 1] - truth[:, :T]
    teacher = ((emitted - truth[:, 1 : T + 1]).norm(dim=-1) / update.norm(dim=-1)).max().item()
    free = model.rollout(q.X, q.y, length)
    rollout = ((free - truth).norm(dim=-1) / truth.norm(dim=-1).clamp(min=1e-30))[:, 1:]
    return EmittedErrors(teacher, rollout, length)


@dataclass(frozen=True)
class Chain:
    """The chapter's GD chain: step ``eta`` on prompts of ``n`` examples in dimension ``d`` with
    label noise ``sigma2``; ``design_seed`` draws the fixed design of the checks given X."""

    n: int = 12
    d: int = 10
    sigma2: float = 1.0
    eta: float = 0.2
    design_seed: int = 11

    def __post_init__(self) -> None:
        _positive_ints(self, "n", "d")
        validation.positive("sigma2", self.sigma2)
        validation.positive("eta", self.eta)
        validation.integer("design_seed", self.design_seed, minimum=0)

    def params(self, **more) -> dict:
        """The parameters a check records: n, d, sigma2, eta, then ``more``."""
        return dict(n=self.n, d=self.d, sigma2=self.sigma2, eta=self.eta, **more)

    def fixed_design(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed design ``X`` ``(1, n, d)`` drawn with ``design_seed``, and the eigenvalues
        of its :math:`S = X^\\top X / n`, ``(d,)`` ascending."""
        dev = runtime.device()
        gen = runtime.generator(self.design_seed, dev)
        X = tasks.sample_prompts(1, self.n, self.d, generator=gen, device=dev).X
        return X, torch.linalg.eigvalsh(X[0].T @ X[0] / self.n)

    def wrong_risks(self, s: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
        """The two slips a check of :math:`R_T(X)` must reject, summed over eigenvalues.

        Parameters
        ----------
        s : torch.Tensor
            Eigenvalues of S, ``(..., d)``.
        steps : int
            The number of GD steps T.

        Returns
        -------
        dict
            ``"(1 - eta s)^T in place of ^(2T)"``:
            :math:`\\sum_j |1 - \\eta s_j|^T + \\sigma^2 g_j^2 s_j / n`, and from T = 30 on
            ``"Cov(X^T eps/n) = I/n"``: :math:`\\sum_j (1 - g_j s_j)^2 + \\sigma^2 g_j^2 / n`,
            with :math:`g_j` the GD filter (:func:`icl.theory.gd_filter`); shape ``(...)``.
        """
        eta, n, sigma2 = self.eta, self.n, self.sigma2
        g = theory.gd_filter(s, eta=eta, steps=steps)
        wrong = {
            "(1 - eta s)^T in place of ^(2T)": (
                (1 - eta * s).abs() ** steps + sigma2 / n * g**2 * s
            ).sum(-1)
        }
        if steps >= 30:
            wrong["Cov(X^T eps/n) = I/n"] = ((1 - g * s) ** 2 + sigma2 / n * g**2).sum(-1)
        return wrong


def risk_given_design(chain: Chain, X: torch.Tensor, steps: int, samples: int, *, seed: int):
    """Monte Carlo estimate of :math:`\\mathbb{E}[\\|w_T - w\\|^2 \\mid X]` for one design.

    Parameters
    ----------
    chain : Chain
        The chain (its eta and sigma2 are used).
    X : torch.Tensor
        The design, ``(1, n, d)``.
    steps : int
        Number of GD steps T.
    samples : int
        Draws of :math:`w \\sim N(0, I_d)` and :math:`\\varepsilon`.
    seed : int
        Their seed.

    Returns
    -------
    Estimate
        Whose mean is :math:`R_T(X)` (:func:`icl.theory.gd_risk_given_spectrum`).
    """

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        Xb = X.expand(batch, -1, -1)
        w = torch.randn(batch, X.shape[2], generator=g, device=X.device, dtype=X.dtype)
        y = torch.einsum("bnd,bd->bn", Xb, w) + chain.sigma2**0.5 * torch.randn(
            batch, X.shape[1], generator=g, device=X.device, dtype=X.dtype
        )
        return ((sample_chains(Xb, y, eta=chain.eta, steps=steps)[:, 0] - w) ** 2).sum(1)

    return montecarlo.estimate_mean(sample, samples, seed=seed)


def wishart_trace_moment(n: int, d: int, k: int) -> int:
    """:math:`\\mathbb{E}\\operatorname{tr} W^k` for the real Wishart matrix :math:`W = X^\\top X`,
    X an n x d standard Gaussian matrix, k = 0..4 (k = 0: the rank, min(n, d)).

    Parameters
    ----------
    n, d : int
        The shape of X.
    k : int
        The power, 0 to 4.

    Returns
    -------
    int
        The exact moment, from Wick's theorem.

    Notes
    -----
    :math:`nd`, :math:`nd(n + d + 1)`, :math:`nd(n^2 + d^2 + 3nd + 3n + 3d + 4)` and
    :math:`nd(n^3 + d^3 + 6n^2 d + 6nd^2 + 6n^2 + 6d^2 + 17nd + 21n + 21d + 20)`.
    """
    return [
        min(n, d),
        n * d,
        n * d * (n + d + 1),
        n * d * (n**2 + d**2 + 3 * n * d + 3 * n + 3 * d + 4),
        n
        * d
        * (
            n**3
            + d**3
            + 6 * n**2 * d
            + 6 * n * d**2
            + 6 * n**2
            + 6 * d**2
            + 17 * n * d
            + 21 * n
            + 21 * d
            + 20
        ),
    ][k]


def density_moment_error(shapes: list[tuple[int, int]]) -> float:
    """The largest relative error of the eigenvalue density's mass and trace moments.

    Parameters
    ----------
    shapes : list of (n, d)
        Design shapes.

    Returns
    -------
    float
        :math:`\\max |\\int s^k \\rho / (\\mathbb{E}\\operatorname{tr} W^k / n^k) - 1|` over the
        shapes and k = 0..4, the density from :func:`icl.theory.wishart_linear_statistic`.
    """
    worst = 0.0
    for n_, d_ in shapes:
        for k in range(5):
            g = (lambda s: (s > 0) * 1.0) if k == 0 else (lambda s, k=k: s**k)
            moment = wishart_trace_moment(n_, d_, k) / n_**k
            worst = max(worst, abs(theory.wishart_linear_statistic(g, n_, d_) / moment - 1))
    return worst


def trace_s4(n: int, d: int, samples: int, *, seed: int) -> Estimate:
    """Monte Carlo estimate of :math:`\\mathbb{E}\\operatorname{tr} S^4`, :math:`S = X^\\top X / n`.

    Parameters
    ----------
    n : int
        Rows of each design X (examples per prompt).
    d : int
        Columns of each design X (dimension).
    samples : int
        Number of designs drawn.
    seed : int
        Seed of the Monte Carlo draws.

    Returns
    -------
    Estimate
        Over ``samples`` fresh n x d designs drawn with ``seed``; the exact value is
        ``wishart_trace_moment(n, d, 4) / n**4``.
    """
    dev, dt = runtime.device(), runtime.dtype()

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        X = torch.randn(batch, n, d, generator=g, device=dev, dtype=dt)
        S = X.transpose(1, 2) @ X / n
        return (S @ S).square().sum((1, 2))  # tr S^4 = ||S^2||_F^2

    return montecarlo.estimate_mean(sample, samples, seed=seed)


def risk_over_designs(
    chain: Chain, n: int, steps: int | None, samples: int, *, seed: int, typical: bool = False
) -> Estimate:
    """Monte Carlo estimate of :math:`\\mathbb{E}_X R_T(X)` over fresh designs, each evaluated
    exactly (no draw of w or noise).

    Parameters
    ----------
    chain : Chain
        Its d, eta and sigma2 are used.
    n : int
        Examples per design.
    steps : int or None
        Number of GD steps T; None: least squares.
    samples : int
        Number of designs, drawn with ``seed``.
    seed : int
        Seed of the Monte Carlo draws.
    typical : bool
        Average :math:`R_T(X)\\,\\mathbf{1}\\{\\eta s_{\\max}(X) \\le 2\\}` instead, whose mean is
        the typical-design risk :math:`\\bar R_T`.

    Returns
    -------
    Estimate
        The mean of :math:`R_T(X)` (:func:`icl.theory.gd_risk_given_X`).
    """
    dev, dt, d, eta = runtime.device(), runtime.dtype(), chain.d, chain.eta

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        X = torch.randn(batch, n, d, generator=g, device=dev, dtype=dt)
        risk = theory.gd_risk_given_X(X, eta=eta, steps=steps, sigma2=chain.sigma2)
        if not typical:
            return risk
        s_max = torch.linalg.eigvalsh(X.transpose(1, 2) @ X / n)[:, -1]
        return torch.where(eta * s_max <= 2, risk, torch.zeros_like(risk))

    return montecarlo.estimate_mean(sample, samples, seed=seed)


def paired_risk(chain: Chain, steps: int, samples: int, *, seed: int) -> Estimate:
    """Per prompt, the simulated error of the GD chain paired with its exact risk given X.

    Parameters
    ----------
    chain : Chain
        The chain; prompts of its n, d, sigma2 with :math:`w \\sim N(0, I_d)`.
    steps : int
        Number of GD steps T.
    samples : int
        Number of prompts, drawn with ``seed``.
    seed : int
        Their seed.

    Returns
    -------
    Estimate
        Kept values, columns: ``[0]`` :math:`\\|w_T - w\\|^2`, ``[1]`` :math:`R_T(X)`, then the
        slips of :meth:`Chain.wrong_risks` in their order.
    """
    n, d, eta, sigma2 = chain.n, chain.d, chain.eta, chain.sigma2
    dev, dt = runtime.device(), runtime.dtype()

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        p = tasks.sample_prompts(batch, n, d, sigma2=sigma2, generator=g, device=dev, dtype=dt)
        error = ((sample_chains(p.X, p.y, eta=eta, steps=steps)[:, 0] - p.w) ** 2).sum(1)
        s = torch.linalg.eigvalsh(p.X.transpose(1, 2) @ p.X / n).clamp(min=0)
        exact = theory.gd_risk_given_spectrum(s, n, eta=eta, steps=steps, sigma2=sigma2)
        return torch.stack([error, exact, *chain.wrong_risks(s, steps).values()], 1)

    return montecarlo.estimate_mean(sample, samples, seed=seed, keep_values=True)


@dataclass(frozen=True)
class Parting:
    """A setting of the typical/divergent split: n, d, sigma2, eta, the ridge penalty ``lam``
    and the prior variance ``psi2``."""

    n: int
    d: int
    sigma2: float
    eta: float
    lam: float = 0.0
    psi2: float = 1.0

    def __post_init__(self) -> None:
        _positive_ints(self, "n", "d")
        for name in ("sigma2", "eta", "psi2"):
            validation.positive(name, getattr(self, name))
        validation.real("lam", self.lam, minimum=0.0)

    def kwargs(self) -> dict:
        """The setting as keyword arguments of :func:`icl.theory.gd_risk_parts` and its kin
        (``psi2`` only when it is not 1)."""
        out = dict(n=self.n, d=self.d, sigma2=self.sigma2, eta=self.eta, lam=self.lam)
        return out if self.psi2 == 1.0 else dict(out, psi2=self.psi2)


def laplace_parting_step(setting: Parting) -> int:
    """The smallest T at which the Laplace estimate of :math:`D_T` reaches the exact :math:`L_T`.

    Parameters
    ----------
    setting : Parting
        The n, d, sigma2, eta, ridge penalty and prior variance at which both are computed.

    Returns
    -------
    int
        Found by doubling then bisection on
        :math:`\\log_{10} D_T^{\\text{Laplace}} \\ge \\log_{10} L_T`
        (:func:`icl.theory.gd_divergent_part_laplace`, :func:`icl.theory.gd_risk_parts`).
    """
    c = setting.kwargs()

    def crossed(T: int) -> bool:
        laplace = theory.gd_divergent_part_laplace(T=T, **c)
        return laplace >= np.log10(theory.gd_risk_parts(T=T, **c).typical)

    lo, hi = 1, 2
    while not crossed(hi):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        lo, hi = (lo, (lo + hi) // 2) if crossed((lo + hi) // 2) else ((lo + hi) // 2, hi)
    return hi


@dataclass(frozen=True)
class RiskCurve:
    """The exact risks against the number of thoughts on the grid ``T_grid``: GD's
    typical-design risk ``risk`` (:math:`L_T`), its minimiser ``T_star`` over the integers with
    ``R_star``, ridge at :math:`\\lambda = 1/(\\eta T)` ``ridge``, the Bayes penalty ``lam_bayes``
    and risk ``bayes``, and ``log10_plain`` the plain average :math:`\\log_{10}(L_T + D_T)`."""

    T_grid: np.ndarray
    risk: np.ndarray
    T_star: int
    R_star: float
    ridge: np.ndarray
    lam_bayes: float
    bayes: float
    log10_plain: list[float]


def risk_curve(chain: Chain, T_grid: np.ndarray) -> RiskCurve:
    """GD's exact prompt-averaged risk against T, its best T, and ridge and Bayes beside it.

    Parameters
    ----------
    chain : Chain
        The chain.
    T_grid : np.ndarray
        Integer numbers of thoughts, ascending.

    Returns
    -------
    RiskCurve
        ``T_star`` is the exact minimiser over the integers next to the grid's minimum.

    Notes
    -----
    Ridge's risk is :math:`\\mathbb{E}\\sum_j (\\lambda^2 + \\sigma^2 s_j / n)/(s_j + \\lambda)^2`
    and the Bayes risk :math:`\\mathbb{E}\\sum_j \\lambda^*/(s_j + \\lambda^*)` with
    :math:`\\lambda^* = \\sigma^2/n` (:func:`icl.theory.bayes_ridge_penalty`).
    """
    N, D, S2, ETA = chain.n, chain.d, chain.sigma2, chain.eta
    risk = np.array([theory.expected_gd_risk(N, D, S2, ETA, int(T_)) for T_ in T_grid])
    best = np.argmin(risk)
    near = np.arange(T_grid[max(best - 1, 0)], T_grid[min(best + 1, len(T_grid) - 1)] + 1)
    near_risk = np.array([theory.expected_gd_risk(N, D, S2, ETA, int(T_)) for T_ in near])
    T_star, R_star = int(near[np.argmin(near_risk)]), float(near_risk.min())

    def ridge_risk(lam: float) -> float:
        return theory.wishart_linear_statistic(
            lambda s: (lam**2 + S2 / N * s) / (s + lam) ** 2, N, D
        )

    ridge = np.array([ridge_risk(1 / (ETA * T_)) for T_ in T_grid])
    lam_bayes = theory.bayes_ridge_penalty(N, S2)
    bayes = theory.wishart_linear_statistic(lambda s: lam_bayes / (s + lam_bayes), N, D)
    plain = [theory.gd_risk_parts(N, D, S2, ETA, int(T_)).log10_plain_average for T_ in T_grid]
    return RiskCurve(T_grid, risk, T_star, R_star, ridge, lam_bayes, bayes, plain)


def expected_risk_terms(
    chain: Chain, steps: int, *, T_star: int
) -> tuple[float, dict[str, float], dict[str, float]]:
    """The theory of a check of :func:`icl.theory.expected_gd_risk`, the wrong formulas it must
    reject and the biases it ignores.

    Parameters
    ----------
    chain : Chain
        The chain.
    steps : int
        Number of GD steps T.
    T_star : int
        The best T: there the plain average :math:`L_T + D_T` is rejected too.

    Returns
    -------
    tuple
        ``(L_T, wrong, ignored)``: wrong are the Marchenko-Pastur limit and the complex
        Wishart density (and at ``T_star`` the plain average); ignored bounds
        :math:`L_T - \\bar R_T` (the certified bound of :func:`icl.theory.gd_risk_parts`) and
        the quadrature's error (the distance from a second quadrature up to :math:`2/\\eta`).
    """
    N, D, S2, ETA = chain.n, chain.d, chain.sigma2, chain.eta
    exact = theory.expected_gd_risk(N, D, S2, ETA, steps)
    parts = theory.gd_risk_parts(N, D, S2, ETA, steps)

    def f_T(s: np.ndarray) -> np.ndarray:
        spectrum = torch.from_numpy(s)[:, None]
        return theory.gd_risk_given_spectrum(spectrum, N, eta=ETA, steps=steps, sigma2=S2).numpy()

    wrong = {
        "Marchenko-Pastur limit": theory.expected_gd_risk_marchenko_pastur(N, D, S2, ETA, steps),
        "complex Wishart density": theory.wishart_linear_statistic(
            f_T, N, D, upper=2 / ETA, beta=2
        ),
    }
    if steps == T_star:
        wrong["plain average L_T + D_T"] = 10**parts.log10_plain_average
    ignored = {
        "L_T - Rbar_T (designs with eta s_max > 2; certified bound)": parts.bound,
        "quadrature (distance from a second quadrature)": abs(
            exact - theory.wishart_linear_statistic(f_T, N, D, upper=2 / ETA)
        ),
    }
    return exact, wrong, ignored
