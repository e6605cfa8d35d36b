"""The settings and experiments of Chapter 1, in-context regression by linear attention.

The chapter: ``book/ch01_linear_attention.md``. Each experiment draws fresh prompts on the run's
device and dtype (:func:`icl.runtime.device`, :func:`icl.runtime.dtype`) and returns
:class:`~icl.harness.montecarlo.Estimate` objects that the chapter checks against the closed
forms of :mod:`icl.theory.one_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from icl import runtime, tasks, theory, validation
from icl.harness import montecarlo
from icl.harness.montecarlo import Estimate
from icl.models.linear_attention import LinearSelfAttention, train_linear_attention
from icl.models.training import TrainingHistory


def _eye(d: int, device: torch.device | None, dtype: torch.dtype | None) -> torch.Tensor:
    dev = runtime.device() if device is None else device
    return torch.eye(d, device=dev, dtype=runtime.dtype(dev) if dtype is None else dtype)


@dataclass(frozen=True)
class Sizes:
    """The chapter's Monte Carlo sample counts and its training run, at one scale.

    ``checks``: prompts per closed-form check; ``points``: per one-step point of the risk
    against n; ``ridge``: per ridge point; ``training``: the trained layer's setting.
    """

    checks: int
    points: int
    ridge: int
    training: Training

    def __post_init__(self) -> None:
        for name in ("checks", "points", "ridge"):
            validation.integer(name, getattr(self, name), minimum=2)


def sizes() -> Sizes:
    """The chapter's sizes at the run's scale (:func:`icl.runtime.by_scale`).

    Returns
    -------
    Sizes
        ``smoke``: 100,000 prompts per check, a 400-step training run at d = 5, n = 10;
        ``full``: 4,000,000 prompts per check, 4,000 steps at d = 10, n = 20.
    """
    return runtime.by_scale(
        smoke=Sizes(100_000, 100_000, 20_000, Training(d=5, n=10, steps=400, batch=512)),
        full=Sizes(4_000_000, 1_000_000, 400_000, Training(d=10, n=20, steps=4000, batch=4096)),
    )


def one_step_error(
    n: int, d: int, sigma2: float, gamma: torch.Tensor
) -> Callable[[int, torch.Generator], torch.Tensor]:
    """A sampler of the squared parameter error of one preconditioned GD step.

    Parameters
    ----------
    n, d : int
        Examples per prompt and dimension.
    sigma2 : float
        Label-noise variance.
    gamma : torch.Tensor
        The preconditioner, shape ``(d, d)``; the prompts are drawn on its device and dtype.

    Returns
    -------
    callable
        ``sample(batch, generator)``, shape ``(batch,)``: for fresh prompts with
        ``w ~ N(0, I_d)``, the error :math:`\\|\\Gamma X^\\top y / n - w\\|^2`.
    """

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        p = tasks.sample_prompts(
            batch, n, d, sigma2=sigma2, generator=gen, device=gamma.device, dtype=gamma.dtype
        )
        w_hat = torch.einsum("bne,bn->be", p.X, p.y) @ gamma.T / n
        return ((w_hat - p.w) ** 2).sum(1)

    return sample


@dataclass(frozen=True)
class OneStep:
    """One GD step of size ``eta`` from w = 0 on prompts of ``n`` examples in dimension ``d``
    with label noise ``sigma2`` (``eta=None``: the optimal step :math:`\\eta^*`)."""

    n: int
    d: int
    sigma2: float
    eta: float | None = None

    def __post_init__(self) -> None:
        validation.integer("n", self.n)
        validation.integer("d", self.d)
        validation.real("sigma2", self.sigma2, minimum=0.0)
        if self.eta is not None:
            validation.positive("eta", self.eta)

    @property
    def step(self) -> float:
        """The step size: ``eta``, or :math:`\\eta^* = n / (n + d + 1 + \\sigma^2)`."""
        if self.eta is None:
            return theory.optimal_step(self.n, self.d, self.sigma2)
        return self.eta

    def params(self) -> dict[str, float]:
        """The parameters a check records: n, d, sigma2 and the step rounded to 6 digits."""
        return dict(n=self.n, d=self.d, sigma2=self.sigma2, eta=round(self.step, 6))

    def wrong_risks(self) -> dict[str, float]:
        """The plausible wrong risks a check must reject.

        Returns
        -------
        dict
            ``"n+d in place of n+d+1"``:
            :math:`d[1 - 2\\eta + \\eta^2 (n + d)/n + \\eta^2 \\sigma^2/n]`, and, with label
            noise, ``"no noise term"``: the risk at :math:`\\sigma^2 = 0`.
        """
        n, d, s2, e = self.n, self.d, self.sigma2, self.step
        wrong = {"n+d in place of n+d+1": d * (1 - 2 * e + e**2 * (n + d) / n + e**2 * s2 / n)}
        if s2 > 0:
            wrong["no noise term"] = theory.one_step_risk(n, d, 0.0, e)
        return wrong


# The five settings checked against the one-step risk: n < d, a noiseless case, a step off eta*.
ONE_STEP_CASES = (
    OneStep(20, 10, 0.5),
    OneStep(20, 10, 2.0, 0.6),
    OneStep(10, 20, 0.5),
    OneStep(5, 5, 0.0),
    OneStep(40, 10, 2.0),
)


def one_step_risk(
    case: OneStep,
    samples: int,
    *,
    seed: int,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> Estimate:
    """Monte Carlo estimate of the risk of one GD step, :math:`\\mathbb{E}\\|\\eta X^\\top y/n -
    w\\|^2`.

    Parameters
    ----------
    case : OneStep
        The setting and the step.
    samples : int
        Number of prompts.
    seed : int
        Seed of the prompts (:func:`icl.harness.montecarlo.estimate_mean`).
    device, dtype : optional
        Where to draw them (default: the run's).

    Returns
    -------
    Estimate
        The mean squared error and its standard error.

    Notes
    -----
    The exact value is :math:`d[1 - 2\\eta + \\eta^2 (n + d + 1 + \\sigma^2)/n]`
    (:func:`icl.theory.one_step_risk`).
    """
    gamma = case.step * _eye(case.d, device, dtype)
    sampler = one_step_error(case.n, case.d, case.sigma2, gamma)
    return montecarlo.estimate_mean(sampler, samples, seed=seed)


@dataclass(frozen=True)
class Preconditioned:
    """An anisotropic, non-symmetric preconditioner :math:`\\Gamma = \\eta^* I + c G`, with
    ``G`` a ``(d, d)`` standard normal matrix drawn with ``seed`` and ``c = spread``."""

    n: int = 20
    d: int = 6
    sigma2: float = 0.5
    spread: float = 0.15
    seed: int = 7

    def __post_init__(self) -> None:
        validation.integer("n", self.n)
        validation.integer("d", self.d)
        validation.real("sigma2", self.sigma2, minimum=0.0)
        validation.real("spread", self.spread, minimum=0.0)
        validation.integer("seed", self.seed, minimum=0)

    def gamma(self, device: torch.device | None = None, dtype: torch.dtype | None = None):
        """The preconditioner, a ``(d, d)`` tensor on ``device`` in ``dtype`` (default: the
        run's)."""
        eye = _eye(self.d, device, dtype)
        gen = runtime.generator(self.seed, eye.device)
        noise = torch.randn(self.d, self.d, generator=gen, device=eye.device, dtype=eye.dtype)
        return theory.optimal_step(self.n, self.d, self.sigma2) * eye + self.spread * noise

    def params(self) -> dict[str, float | str]:
        """The parameters a check records: n, d, sigma2 and how the preconditioner was drawn."""
        gamma = f"eta* I + {self.spread:g} N(0,1), seed {self.seed}"
        return dict(n=self.n, d=self.d, sigma2=self.sigma2, gamma=gamma)

    def wrong_risks(self, gamma: torch.Tensor) -> dict[str, float]:
        """The plausible wrong risks of ``gamma`` a check must reject.

        Returns
        -------
        dict
            ``"n+d in place of n+d+1"``: :math:`R(\\Gamma) - \\|\\Gamma\\|_F^2 / n`, and
            ``"tr(Gamma)^2/d in place of ||Gamma||_F^2"``, which replaces
            :math:`\\|\\Gamma\\|_F^2` by :math:`(\\operatorname{tr}\\Gamma)^2 / d`.
        """
        n, d, s2 = self.n, self.d, self.sigma2
        risk = theory.preconditioned_risk(gamma, n, s2)
        frob2, trace = float((gamma**2).sum()), float(gamma.trace())
        return {
            "n+d in place of n+d+1": risk - frob2 / n,
            "tr(Gamma)^2/d in place of ||Gamma||_F^2": risk
            - ((n + d + 1) / n + s2 / n) * (frob2 - trace**2 / d),
        }


def preconditioned_risk(
    case: Preconditioned, gamma: torch.Tensor, samples: int, *, seed: int
) -> Estimate:
    """Monte Carlo estimate of :math:`\\mathbb{E}\\|\\Gamma X^\\top y / n - w\\|^2`.

    Parameters
    ----------
    case : Preconditioned
        The setting (n, d, sigma2).
    gamma : torch.Tensor
        The preconditioner, ``(d, d)``; prompts are drawn on its device and dtype.
    samples : int
        Number of prompts.
    seed : int
        Seed of the prompts.

    Returns
    -------
    Estimate
        The mean squared error and its standard error.

    Notes
    -----
    The exact value is :math:`\\frac{n+d+1+\\sigma^2}{n}\\|\\Gamma\\|_F^2 - 2\\operatorname{tr}
    \\Gamma + d` (:func:`icl.theory.preconditioned_risk`).
    """
    sampler = one_step_error(case.n, case.d, case.sigma2, gamma)
    return montecarlo.estimate_mean(sampler, samples, seed=seed)


@dataclass(frozen=True)
class AgainstN:
    """The one-step risk at :math:`\\eta^*` and ridge's risk, for prompt lengths ``n_grid`` at
    dimension ``d`` and label noise ``sigma2``."""

    d: int = 10
    sigma2: float = 0.5
    n_grid: tuple[int, ...] = (2, 5, 10, 20, 40, 80)

    def __post_init__(self) -> None:
        validation.integer("d", self.d)
        validation.positive("sigma2", self.sigma2)
        for n in self.n_grid:
            validation.integer("n_grid entry", n)


@dataclass(frozen=True)
class AgainstNResult:
    """The estimates of :func:`risk_against_n`, one per entry of ``setting.n_grid``."""

    setting: AgainstN
    one_step: tuple[Estimate, ...]
    ridge: tuple[Estimate, ...]


def ridge_error(n: int, d: int, sigma2: float) -> Callable[[int, torch.Generator], torch.Tensor]:
    """A sampler of the squared parameter error of ridge regression with
    :math:`\\lambda = \\sigma^2` (the posterior mean for :math:`w \\sim N(0, I_d)`).

    Parameters
    ----------
    n : int
        Examples per prompt.
    d : int
        Dimension of x and w.
    sigma2 : float
        Label noise variance :math:`\\sigma^2`, also the ridge penalty :math:`\\lambda`.

    Returns
    -------
    callable
        ``sample(batch, generator)``, shape ``(batch,)``:
        :math:`\\|(X^\\top X + \\sigma^2 I)^{-1} X^\\top y - w\\|^2` on fresh prompts, on the
        run's device and dtype.
    """
    eye = _eye(d, None, None)

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        p = tasks.sample_prompts(
            batch, n, d, sigma2=sigma2, generator=gen, device=eye.device, dtype=eye.dtype
        )
        gram = p.X.transpose(1, 2) @ p.X + sigma2 * eye
        w_hat = torch.linalg.solve(gram, torch.einsum("bnd,bn->bd", p.X, p.y))
        return ((w_hat - p.w) ** 2).sum(1)

    return sample


def risk_against_n(setting: AgainstN, points: int, ridge: int) -> AgainstNResult:
    """The one-step risk at :math:`\\eta^*` and ridge's risk against the prompt length.

    Parameters
    ----------
    setting : AgainstN
        Dimension, noise and prompt lengths.
    points, ridge : int
        Prompts per one-step point and per ridge point.

    Returns
    -------
    AgainstNResult
        One estimate per n of each (seeds ``200 + n`` and ``300 + n``).

    Notes
    -----
    The one-step points estimate :math:`d(d + 1 + \\sigma^2)/(n + d + 1 + \\sigma^2)`
    (:func:`icl.theory.optimal_one_step_risk`); ridge's finite-n risk has no elementary form.
    """
    d, s2 = setting.d, setting.sigma2
    one_step = tuple(one_step_risk(OneStep(n, d, s2), points, seed=200 + n) for n in setting.n_grid)
    ridges = tuple(
        montecarlo.estimate_mean(ridge_error(n, d, s2), ridge, seed=300 + n) for n in setting.n_grid
    )
    return AgainstNResult(setting, one_step, ridges)


@dataclass(frozen=True)
class Training:
    """Training of the full linear-attention layer with Adam on fresh prompts.

    ``d``, ``n``: the prompts; ``steps``, ``batch``, ``lr``: Adam's run (cosine decay);
    ``init_std``: the initial weights' spread, drawn with ``init_seed``; ``seed``: the prompts'.
    """

    d: int
    n: int
    steps: int
    batch: int
    sigma2: float = 0.5
    lr: float = 1e-2
    init_std: float = 0.01
    init_seed: int = 1
    seed: int = 2

    def __post_init__(self) -> None:
        for name in ("d", "n", "steps", "batch"):
            validation.integer(name, getattr(self, name))
        validation.real("sigma2", self.sigma2, minimum=0.0)
        validation.positive("lr", self.lr)
        validation.positive("init_std", self.init_std)
        validation.integer("init_seed", self.init_seed, minimum=0)
        validation.integer("seed", self.seed, minimum=0)

    def params(self) -> dict[str, float]:
        """The parameters a check records: n, d, sigma2, steps and batch."""
        return dict(n=self.n, d=self.d, sigma2=self.sigma2, steps=self.steps, batch=self.batch)


@dataclass(frozen=True)
class TrainedLayer:
    """A trained layer: the ``model``, its training ``history`` and its effective
    preconditioner ``gamma`` :math:`= v W_{11}^\\top`."""

    setting: Training
    model: LinearSelfAttention
    history: TrainingHistory
    gamma: torch.Tensor


def train(setting: Training) -> TrainedLayer:
    """Train a :class:`~icl.models.linear_attention.LinearSelfAttention` from a small random
    initialisation.

    Parameters
    ----------
    setting : Training
        Sizes, optimiser and seeds.

    Returns
    -------
    TrainedLayer
        The model on the run's device and dtype, its history and its :math:`\\Gamma`.

    Notes
    -----
    The loss is the squared prediction error :math:`(\\hat y_q - y_q)^2`, whose expectation
    is the parameter risk plus :math:`\\sigma^2`.
    """
    dev = runtime.device()
    model = LinearSelfAttention(
        setting.d,
        init_std=setting.init_std,
        generator=runtime.generator(setting.init_seed, dev),
        device=dev,
        dtype=runtime.dtype(dev),
    )
    history = train_linear_attention(
        model,
        n=setting.n,
        sigma2=setting.sigma2,
        steps=setting.steps,
        batch=setting.batch,
        lr=setting.lr,
        seed=setting.seed,
    )
    return TrainedLayer(setting, model, history, model.effective_preconditioner())


def network_errors(trained: TrainedLayer, samples: int, *, seed: int) -> Estimate:
    """The trained network's squared prediction error, paired with what its other weights add.

    Parameters
    ----------
    trained : TrainedLayer
        The network and its :math:`\\Gamma`.
    samples : int
        Number of fresh prompts.
    seed : int
        Seed of the prompts.

    Returns
    -------
    Estimate
        A 2-vector: ``[0]`` the network's :math:`(\\hat y_q - y_q)^2`, ``[1]`` it minus the
        squared error of the GD step :math:`x_q^\\top \\Gamma X^\\top y / n` on the same prompt
        (what the weights outside :math:`\\Gamma` add).
    """
    s, model, gamma = trained.setting, trained.model, trained.gamma

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        p = tasks.sample_prompts(
            batch, s.n, s.d, sigma2=s.sigma2, generator=gen, device=gamma.device, dtype=gamma.dtype
        )
        with torch.no_grad():
            network = (model.predict(p.X, p.y, p.x_query) - p.y_query) ** 2
        step = torch.einsum("bd,de,bne,bn->b", p.x_query, gamma, p.X, p.y) / s.n
        return torch.stack([network, network - (step - p.y_query) ** 2], 1)

    return montecarlo.estimate_mean(sample, samples, seed=seed)
