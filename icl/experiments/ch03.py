"""The settings and experiments of Chapter 3, noise injection and averaged chains.

The chapter: ``book/ch03_noise_injection.md``. Its settings, one per section:

- :class:`OnePrompt`: the fixed prompt of the mean, covariance and averaged-risk checks;
- :class:`Stationary`: the longer, noisier chains of the fixed-point check;
- :class:`Prototype`: the authors' prototype's averaging experiment, in the book's units;
- :class:`Regulariser`: the over-fitting task on which the noise level acts as a regulariser.

Each sampler returned here has the form ``sample(batch, generator)`` that
:func:`icl.harness.montecarlo.estimate_mean` expects; the prompt-averaged ones record the designs
they draw in a :class:`DesignLog`, for the chapter's last section.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from icl import runtime, tasks, techniques, theory
from icl.decoders.gd_chains import sample_chains
from icl.harness import claims, montecarlo
from icl.harness.montecarlo import Estimate
from icl.validation import integer, positive

Sampler = Callable[[int, torch.Generator], torch.Tensor]


# --- settings ---


@dataclass(frozen=True)
class OnePrompt:
    """The one fixed prompt of the chapter's first sections, with its two noise levels.

    ``delta`` is the multiplicative level (:math:`\\xi \\sim N(0, \\delta^2 I)`), ``tau`` the
    additive one; ``seed`` draws the prompt.
    """

    d: int = 5
    n: int = 8
    sigma2: float = 0.5
    eta: float = 0.1
    steps: int = 30
    delta: float = 0.5
    tau: float = 0.3
    seed: int = 1

    def __post_init__(self) -> None:
        integer("d", self.d)
        integer("n", self.n)
        integer("steps", self.steps)
        integer("seed", self.seed, minimum=0)
        for name in ("sigma2", "eta", "delta", "tau"):
            positive(name, getattr(self, name))

    def params(self, **extra) -> dict:
        """The parameters a check of this setting records: d, n, sigma2, eta, T, then
        ``extra``."""
        return dict(d=self.d, n=self.n, sigma2=self.sigma2, eta=self.eta, T=self.steps, **extra)

    def draw(self, device: torch.device | str) -> tasks.Prompts:
        """The prompt: one Gaussian task, drawn with the generator of ``seed``."""
        return tasks.sample_prompts(
            1,
            self.n,
            self.d,
            sigma2=self.sigma2,
            generator=runtime.generator(self.seed, device),
            device=device,
        )


@dataclass(frozen=True)
class Stationary:
    """The fixed-point check's chains: a larger step and noise, run long enough to converge."""

    eta: float = 0.2
    delta: float = 0.8
    steps: int = 150

    def __post_init__(self) -> None:
        positive("eta", self.eta)
        positive("delta", self.delta)
        integer("steps", self.steps)


@dataclass(frozen=True)
class Prototype:
    """The authors' prototype's averaging experiment in the book's units.

    Its undivided step :math:`\\eta' = 10^{-3}` is :math:`\\eta = n\\eta'`, and a penalty or
    noise level :math:`\\lambda'` is :math:`\\lambda'/n`; ``levels`` are the :math:`\\delta'^2`
    the chapter compares.
    """

    d: int = 50
    n: int = 30
    k: int = 5
    sigma2: float = 0.1
    eta: float = 0.03
    steps: int = 1000
    levels: tuple[float, ...] = (0.25, 1.0, 4.0)

    def __post_init__(self) -> None:
        integer("d", self.d)
        integer("n", self.n)
        integer("k", self.k, maximum=self.d)
        integer("steps", self.steps)
        positive("sigma2", self.sigma2)
        positive("eta", self.eta)
        for level in self.levels:
            positive("levels entry", level)

    @property
    def psi2(self) -> float:
        """The matched Gaussian prior's variance, k / d."""
        return self.k / self.d

    @property
    def levels2(self) -> list[float]:
        """The noise levels :math:`\\delta^2 = \\delta'^2 / n` in the book's units."""
        return [level / self.n for level in self.levels]

    @property
    def lam_ridge(self) -> float:
        """The ridge line's penalty, :math:`\\lambda' = 1`, i.e. 1 / n."""
        return 1 / self.n

    @property
    def level(self) -> float:
        """The prototype's injection level, :math:`\\delta'^2 = 1`: :math:`\\delta = n^{-1/2}`."""
        return (1 / self.n) ** 0.5

    @property
    def shift(self) -> float:
        """The largest :math:`\\lambda + \\delta^2` among its chains."""
        return max(self.levels2 + [self.lam_ridge])

    def params(self, **extra) -> dict:
        """The parameters its checks record, then ``extra``."""
        return dict(
            d=self.d,
            n=self.n,
            k=self.k,
            sigma2=self.sigma2,
            eta=self.eta,
            T=self.steps,
            delta2=1 / self.n,
            **extra,
        )

    def describe(self) -> str:
        """The setting in a figure title's words."""
        return f"d={self.d}, n={self.n}, k={self.k}, $\\sigma^2$={self.sigma2}, T={self.steps}"


@dataclass(frozen=True)
class Regulariser:
    """Chapter 2's over-fitting task at a small step, and the grid of noise levels
    :math:`\\delta^2 / \\lambda^*` (``grid`` points from ``10**-1`` to ``10**1``)."""

    d: int = 10
    n: int = 12
    sigma2: float = 1.0
    eta: float = 1 / 16
    steps: int = 480
    grid: int = 21

    def __post_init__(self) -> None:
        integer("d", self.d)
        integer("n", self.n)
        integer("steps", self.steps)
        integer("grid", self.grid, minimum=2)
        positive("sigma2", self.sigma2)
        positive("eta", self.eta)

    @property
    def factors(self) -> np.ndarray:
        """The noise levels as multiples of the Bayes penalty."""
        return np.logspace(-1, 1, self.grid)

    @property
    def lam_star(self) -> float:
        """The Bayes penalty :math:`\\lambda^* = \\sigma^2 / (n\\psi^2)`, :math:`\\psi = 1`."""
        return theory.bayes_ridge_penalty(self.n, self.sigma2)

    @property
    def shift(self) -> float:
        """The largest noise level of the grid."""
        return self.factors.max() * self.lam_star

    def params(self, **extra) -> dict:
        """The parameters its checks record."""
        return dict(d=self.d, n=self.n, sigma2=self.sigma2, eta=self.eta, T=self.steps, **extra)


def prototype_sizes() -> dict:
    """The sizes of the prototype's experiment at this run's scale.

    Returns
    -------
    dict
        ``single_prompts`` (one chain each), ``nested_prompts`` (nested averages),
        ``n_avg`` (the N of the nested averages) and ``curve_prompts`` (exact curves).

    Notes
    -----
    A larger run sets any of them through the environment variable ``ICL_CH3_PROTOTYPE``,
    a JSON object.
    """
    sizes = runtime.by_scale(
        smoke=dict(single_prompts=1024, nested_prompts=16, n_avg=[10, 50, 100], curve_prompts=512),
        full=dict(
            single_prompts=65536,
            nested_prompts=4096,
            n_avg=[10, 50, 100, 200, 500, 1000],
            curve_prompts=4096,
        ),
    )
    sizes.update(json.loads(os.environ.get("ICL_CH3_PROTOTYPE", "{}")))
    return sizes


# --- the designs drawn ---


@dataclass
class DesignLog:
    """How many prompts each prompt-averaged setting drew, and the largest
    :math:`\\eta(s_{\\max} + \\text{shift})` among them, :math:`s_{\\max}` the top eigenvalue of
    :math:`X^\\top X / n`."""

    seen: dict = field(default_factory=dict)

    def track(self, setting: str, X: torch.Tensor, eta: float, shift: float) -> None:
        """Record the designs ``X (B, n, d)`` of ``setting``."""
        small_gram = (
            X @ X.transpose(1, 2) if X.shape[1] < X.shape[2] else X.transpose(1, 2) @ X
        )  # same non-zero eigenvalues
        top = torch.linalg.eigvalsh(small_gram)[:, -1].max().item()
        scale = eta * (top / X.shape[1] + shift)
        seen = self.seen.setdefault(setting, [0, 0.0])
        seen[0], seen[1] = seen[0] + X.shape[0], max(seen[1], scale)


@dataclass(frozen=True)
class DesignCensus:
    """One prompt-averaged setting's unstable designs: the bound and what was drawn.

    ``bound``: the Davidson–Szarek bound on the probability of a design with
    :math:`\\eta(s_{\\max} + \\text{shift}) > 1`
    (:func:`icl.theory.unstable_design_probability_bound`); ``drawn``: the prompts drawn;
    ``largest``: the largest :math:`\\eta(s_{\\max} + \\text{shift})` among them.
    """

    setting: str
    n: int
    d: int
    eta: float
    shift: float
    bound: float
    drawn: int
    largest: float

    def __str__(self) -> str:
        return (
            f"{self.setting} (n = {self.n}, d = {self.d}, eta = {self.eta:.4g}, "
            f"lam + delta^2 <= {self.shift:.4f}): P(unstable design) <= {self.bound:.1e}; "
            f"{self.drawn} prompts drawn, largest eta (s_max + lam + delta^2) = "
            f"{self.largest:.3f}"
        )


def design_census(designs: DesignLog, name: str, setting: Prototype | Regulariser) -> DesignCensus:
    """The bound on a setting's unstable designs, beside the designs it drew.

    Parameters
    ----------
    designs : DesignLog
        The designs drawn, by setting name.
    name : str
        The setting's name in ``designs``.
    setting : Prototype or Regulariser
        Its n, d, step and largest :math:`\\lambda + \\delta^2` (``shift``).

    Returns
    -------
    DesignCensus

    Notes
    -----
    The bound is :math:`e^{-nt^2/2}`,
    :math:`t = (1/\\eta - \\text{shift})^{1/2} - 1 - \\sqrt{d/n}`.
    """
    where = (setting.n, setting.d, setting.eta, setting.shift)
    bound = theory.unstable_design_probability_bound(*where)
    drawn, largest = designs.seen[name]
    return DesignCensus(name, *where, bound=bound, drawn=drawn, largest=largest)


# --- one fixed prompt ---


def final_thoughts(
    prompt: tasks.Prompts,
    eta: float,
    steps: int,
    batch: int,
    noise: str,
    level: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """The last thoughts ``(batch, d)`` of ``batch`` noisy chains on the first prompt.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one is used).
    eta, steps : float, int
        The step and the number of thoughts.
    batch : int
        How many chains.
    noise, level : str, float
        The decoder's noise (``"additive"`` or ``"multiplicative"``) and its level.
    generator : torch.Generator
        The randomness.

    Returns
    -------
    torch.Tensor
        :math:`w_T` of each chain, ``(batch, d)``.
    """
    return sample_chains(
        prompt.X,
        prompt.y,
        eta=eta,
        steps=steps,
        n_chains=batch,
        noise=noise,
        level=level,
        generator=generator,
    )[0]


def projected_chain(
    prompt: tasks.Prompts, setting: OnePrompt, noise: str, level: float, direction: torch.Tensor
) -> Sampler:
    """A sampler of :math:`u^\\top w_T`, one chain's last thought projected on ``direction``.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one is used).
    setting : OnePrompt
        Its step and number of thoughts.
    noise : str
        The decoder's noise, ``"additive"`` or ``"multiplicative"``.
    level : float
        The noise level (:math:`\\tau` or :math:`\\delta`).
    direction : torch.Tensor
        The direction u, ``(d,)``.

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch,)``.
    """

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        w_T = final_thoughts(prompt, setting.eta, setting.steps, batch, noise, level, g)
        return w_T @ direction

    return sample


def spread(prompt: tasks.Prompts, eta: float, steps: int, noise: str, level: float) -> Sampler:
    """A sampler of :math:`\\|w_T - m_T\\|^2`, a chain's squared distance from its exact mean.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one is used).
    eta : float
        The step.
    steps : int
        The number of thoughts T.
    noise : str
        The decoder's noise, ``"additive"`` or ``"multiplicative"``.
    level : float
        The noise level (:math:`\\tau` or :math:`\\delta`).

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch,)``, of mean :math:`\\operatorname{tr} C_T`.
    """
    mean = theory.chain_mean(prompt.X, prompt.y, eta=eta, steps=steps, noise=noise, level=level)[0]

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        w_T = final_thoughts(prompt, eta, steps, batch, noise, level, g)
        return ((w_T - mean) ** 2).sum(1)

    return sample


def covariance_trace_by_recursion(
    prompt: tasks.Prompts,
    setting: OnePrompt,
    noise_term: Callable[[torch.Tensor], torch.Tensor],
    shift: float,
) -> float:
    """:math:`\\operatorname{tr} C_T` by the full recursion with a given noise term.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one).
    setting : OnePrompt
        Its step and number of thoughts.
    noise_term : Callable
        :math:`P \\mapsto` the covariance the noise adds in a step, given
        :math:`P_t = C_t + m_t m_t^\\top`.
    shift : float
        The penalty in the contraction :math:`A = I - \\eta(S + \\text{shift}\\, I)`.

    Returns
    -------
    float
        :math:`\\operatorname{tr} C_T`.

    Notes
    -----
    :math:`C_{t+1} = A C_t A + \\text{noise\\_term}(C_t + m_t m_t^\\top)`,
    :math:`m_{t+1} = A m_t + \\eta b`, from :math:`C_0 = 0, m_0 = 0`: with the wrong noise
    terms, the wrong formulas a check rejects.
    """
    X, y, n = prompt.X[0], prompt.y[0], prompt.X.shape[1]
    S, b = X.T @ X / n, X.T @ y / n
    eye = torch.eye(S.shape[0], dtype=S.dtype, device=S.device)
    A = eye - setting.eta * (S + shift * eye)
    m, C = torch.zeros_like(b), torch.zeros_like(S)
    for _ in range(setting.steps):
        C = A @ C @ A + noise_term(C + torch.outer(m, m))
        m = A @ m + setting.eta * b
    return float(C.trace())


def wrong_spreads(prompt: tasks.Prompts, setting: OnePrompt) -> dict[str, float]:
    """The two wrong values of a multiplicative chain's :math:`\\operatorname{tr} C_T` that the
    covariance check rejects, by label.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one).
    setting : OnePrompt
        Its step, number of thoughts and level :math:`\\delta`.

    Returns
    -------
    dict
        ``"without tr(M) I"``: the noise term :math:`\\kappa P`;
        ``"raw fourth moment, delta^4 (2P + tr(P) I)"``: the noise term
        :math:`\\kappa (2P + \\operatorname{tr}(P)\\, I)`, the fourth moment
        :math:`\\mathbb{E}[\\xi\\xi^\\top P \\xi\\xi^\\top]` without subtracting
        :math:`\\delta^4 P`.

    Notes
    -----
    Both run :func:`covariance_trace_by_recursion` with the contraction at
    :math:`\\lambda + \\delta^2 = \\delta^2` and :math:`\\kappa = \\eta^2\\delta^4`; the right
    noise term is :math:`\\kappa (P + \\operatorname{tr}(P)\\, I)`.
    """
    kap = setting.eta**2 * setting.delta**4
    eye = torch.eye(setting.d, dtype=prompt.X.dtype, device=prompt.X.device)

    def by_recursion(noise_term: Callable[[torch.Tensor], torch.Tensor]) -> float:
        return covariance_trace_by_recursion(prompt, setting, noise_term, setting.delta**2)

    return {
        "without tr(M) I": by_recursion(lambda P: kap * P),
        "raw fourth moment, delta^4 (2P + tr(P) I)": by_recursion(
            lambda P: kap * (2 * P + P.trace() * eye)
        ),
    }


@dataclass(frozen=True)
class FixedPoint:
    """The stationary covariance of a multiplicative chain on one prompt.

    ``trace``: :math:`\\operatorname{tr} C_\\infty`; ``no_feedback``: the same without the factor
    :math:`1/(1 - \\sum_j \\kappa/D_{jj})`; ``feedback``: :math:`\\sum_j \\kappa/D_{jj}`;
    ``trace_long``: the exact :math:`\\operatorname{tr} C_T` after the setting's steps.
    """

    trace: float
    no_feedback: float
    feedback: float
    trace_long: float


def fixed_point(prompt: tasks.Prompts, setting: Stationary) -> FixedPoint:
    """The fixed point of the covariance recursion on the first prompt, and its wrong form.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one is used).
    setting : Stationary
        The step, the multiplicative level :math:`\\delta` and the steps of the
        long chain.

    Returns
    -------
    FixedPoint
        Its trace, the trace without the feedback factor, the feedback and the exact trace
        after the setting's steps.

    Notes
    -----
    With :math:`a_j = 1 - \\eta(s_j + \\delta^2)`, :math:`\\kappa = \\eta^2\\delta^4`,
    :math:`D_{jj} = 1 - a_j^2 - \\kappa` and the limit mean :math:`m` in the eigenbasis,
    :math:`\\operatorname{tr} C_\\infty = \\sum_j \\kappa (m_j^2 + \\|m\\|^2)/D_{jj} \\,/\\,
    (1 - \\sum_j \\kappa/D_{jj})`.
    """
    X, y, n = prompt.X[0], prompt.y[0], prompt.X.shape[1]
    eta, delta = setting.eta, setting.delta
    C_inf = theory.stationary_chain_covariance(
        prompt.X, prompt.y, eta=eta, noise="multiplicative", level=delta
    )[0]
    s, V = torch.linalg.eigh(X.T @ X / n)
    a = 1 - eta * (s + delta**2)
    kappa = eta**2 * delta**4
    m = V.T @ (X.T @ y / n) / (s + delta**2)
    D = 1 - a**2 - kappa
    trace_long = theory.chain_covariance(
        prompt.X, prompt.y, eta=eta, steps=setting.steps, noise="multiplicative", level=delta
    )[0].trace()
    return FixedPoint(
        trace=float(C_inf.trace()),
        no_feedback=float((kappa * (m**2 + (m**2).sum()) / D).sum()),
        feedback=float((kappa / D).sum()),
        trace_long=float(trace_long),
    )


def averaged_error(prompt: tasks.Prompts, setting: OnePrompt, n_avg: int) -> Sampler:
    """A sampler of :math:`\\|\\bar w_N - w\\|^2`, the average of ``n_avg`` multiplicative
    chains against the task.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one is used).
    setting : OnePrompt
        Its step, number of thoughts, d and multiplicative level :math:`\\delta`.
    n_avg : int
        The number N of chains averaged.

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch,)``.
    """

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        w_T = final_thoughts(
            prompt, setting.eta, setting.steps, batch * n_avg, "multiplicative", setting.delta, g
        )
        return ((w_T.reshape(batch, n_avg, setting.d).mean(1) - prompt.w[0]) ** 2).sum(1)

    return sample


def pooled_spread(
    prompt: tasks.Prompts,
    setting: OnePrompt,
    mean: torch.Tensor,
    pool: int,
    n_avg: tuple[int, ...] = (10, 100),
) -> Sampler:
    """A sampler, per pool of ``pool`` chains, of the mean of :math:`\\|\\bar w_S - m_T\\|^2`
    over all N-subsets S of the pool, for each N in ``n_avg``.

    Parameters
    ----------
    prompt : tasks.Prompts
        The prompt (its first one is used).
    setting : OnePrompt
        Its step, number of thoughts, d and multiplicative level :math:`\\delta`.
    mean : torch.Tensor
        The chains' exact mean :math:`m_T`, ``(d,)``.
    pool : int
        The chains K of one pool (at least 2).
    n_avg : tuple of int
        The subset sizes N.

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch, len(n_avg))``.

    Notes
    -----
    With :math:`e_i = w_i - m_T` and K the pool, the all-subsets mean is
    :math:`\\frac{1}{N}\\frac{1}{K}\\sum_i \\|e_i\\|^2 +
    (1 - \\frac{1}{N})\\frac{1}{K(K-1)}\\sum_{i \\ne j} e_i^\\top e_j`, unbiased for
    :math:`\\operatorname{tr} C_T / N`.
    """

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        w_T = final_thoughts(
            prompt, setting.eta, setting.steps, batch * pool, "multiplicative", setting.delta, g
        )
        e = (w_T - mean).reshape(batch, pool, setting.d)
        own = (e**2).sum(-1).mean(1)  # mean of ||e_i||^2
        cross = ((e.sum(1) ** 2).sum(-1) - (e**2).sum((1, 2))) / (
            pool * (pool - 1)
        )  # mean of e_i . e_j over i != j
        return torch.stack([own / n + (1 - 1 / n) * cross for n in n_avg], 1)

    return sample


# --- the prototype's experiment ---

# The prototype's figure legend (`loss_min`, the mean unsquared error at the final step);
# the N = 1000 value unrounded, as its stored output has it.
LEGEND = {
    "GD": 1.39240,
    "ridge": 1.38562,
    1: 1.39333,
    10: 1.38633,
    50: 1.38578,
    100: 1.38571,
    200: 1.38568,
    500: 1.38565,
    1000: 1.3856544494628906,
}
ROWS_N = [1, 10, 50, 100, 200, 500, 1000]
ROUNDING = {row: 0.0 if row == 1000 else 1e-5 / 12**0.5 for row in LEGEND}
PROTOTYPE_PROMPTS = 4096  # the prompts the prototype's legend averages over
# The quantities recorded per prompt with one sampled chain (see one_chain_sampler).
ONE_CHAIN = (
    "gd",
    "ridge",
    "gd - ridge",
    "c",
    "v",
    "gd^2 - ridge^2",
    "tr C",
    "error",
    "error^2",
    "bias^2",
    "exact^2",
    "error^2 - gd^2",
    "remainder",
)
# The quantities recorded per prompt and N for the nested averages (see nested_sampler).
NESTED_COLUMNS = (
    "error",
    "first order",
    "squared risk",
    "spread",
    "tr C / N",
    "tr C",
    "error^2 - gd^2",
    "remainder",
)


def prototype_prompts(
    setting: Prototype, designs: DesignLog, batch: int, generator: torch.Generator
) -> tasks.Prompts:
    """``batch`` prompts of the prototype (a k-sparse Gaussian task), recorded in ``designs``.

    Parameters
    ----------
    setting : Prototype
        Its n, d, k and :math:`\\sigma^2` (and step and shift, for the record).
    designs : DesignLog
        Where the designs drawn are recorded.
    batch : int
        How many prompts.
    generator : torch.Generator
        The randomness.

    Returns
    -------
    tasks.Prompts
        The prompts, on the run's device and dtype.
    """
    p = tasks.sample_prompts(
        batch,
        setting.n,
        setting.d,
        prior="sparse-gaussian",
        k=setting.k,
        sigma2=setting.sigma2,
        generator=generator,
        device=runtime.device(),
        dtype=runtime.dtype(),
    )
    designs.track("prototype", p.X, setting.eta, setting.shift)
    return p


@dataclass(frozen=True)
class PrototypeCurves:
    """Exact quantities on one batch of the prototype's prompts.

    ``terms[level2]``: the bias² and :math:`\\operatorname{tr} C_t` at every step ``(B, T + 1)``;
    ``gd_risk``, ``ridge_risk``: the final iterates' squared errors ``(B,)``;
    ``greedy_path``: the greedy chain's squared error at every step ``(B, T + 1)``.
    """

    prompts: tasks.Prompts
    terms: dict
    gd_risk: torch.Tensor
    ridge_risk: torch.Tensor
    greedy_path: torch.Tensor

    def against_n(self, setting: Prototype) -> dict:
        """Per level :math:`\\delta'^2`: (mean bias² minus greedy GD's risk, mean
        :math:`\\operatorname{tr} C_T`) at the final step, on these prompts."""
        out = {}
        for lv, (bias2, trace) in self.terms.items():
            b2, tr = bias2[:, -1], trace[:, -1].mean().item()
            out[lv * setting.n] = ((b2 - self.gd_risk).mean().item(), tr)
        return out


def prototype_curves(
    setting: Prototype, designs: DesignLog, batch: int, generator: torch.Generator
) -> PrototypeCurves:
    """The exact risk terms of the averaged chains at every step, at each of the setting's
    levels, with those of greedy and ridge GD, on ``batch`` fresh prompts.

    Parameters
    ----------
    setting : Prototype
        Its task, step, number of thoughts, levels and ridge penalty.
    designs : DesignLog
        Where the designs drawn are recorded.
    batch : int
        How many prompts.
    generator : torch.Generator
        The randomness.

    Returns
    -------
    PrototypeCurves

    Notes
    -----
    The risk of the average of N chains is :math:`\\|m_T - w\\|^2 + \\operatorname{tr} C_T/N`;
    the greedy chain's error is the bias² of an additive-noise chain, whose mean is the greedy
    iterate.
    """
    p = prototype_prompts(setting, designs, batch, generator)
    eta, steps = setting.eta, setting.steps
    terms = {
        lv: theory.chain_risk_terms(
            p.X, p.y, p.w, eta=eta, steps=steps, level=lv**0.5, every_step=True
        )
        for lv in setting.levels2
    }
    gd_risk = ((theory.ridge_gd_iterate(p.X, p.y, eta, 0.0, steps) - p.w) ** 2).sum(1)
    ridge = theory.ridge_gd_iterate(p.X, p.y, eta, setting.lam_ridge, steps)
    greedy_path = theory.chain_risk_terms(
        p.X, p.y, p.w, eta=eta, steps=steps, level=1.0, noise="additive", every_step=True
    )[0]
    return PrototypeCurves(p, terms, gd_risk, ((ridge - p.w) ** 2).sum(1), greedy_path)


def chains_to_beat_greedy(curves: PrototypeCurves) -> dict:
    """For each level: the prompt-averaged bias², :math:`\\operatorname{tr} C_T`, and how many
    chains the average needs to beat greedy GD.

    Parameters
    ----------
    curves : PrototypeCurves
        The exact risk terms on a batch of prompts (:func:`prototype_curves`).

    Returns
    -------
    dict
        ``level2 -> (E bias², E tr C_T, a phrase)``.

    Notes
    -----
    The average of N chains beats greedy GD when
    :math:`\\mathbb{E}\\,\\text{bias}^2 + \\mathbb{E}\\operatorname{tr} C_T / N <
    \\mathbb{E}\\,\\text{risk}_{GD}`.
    """
    out = {}
    for lv, (bias2, trace) in curves.terms.items():
        b2, tr = bias2[:, -1].mean().item(), trace[:, -1].mean().item()
        gap = (curves.gd_risk.mean() - bias2[:, -1].mean()).item()
        if gap <= 0:
            beats = "never (its ridge bias exceeds the greedy risk)"
        else:
            beats = "every N" if tr < gap else f"N > {tr / gap:.2f}"
        out[lv] = (b2, tr, beats)
    return out


def sparse_vs_gaussian(setting: Prototype, designs: DesignLog) -> Sampler:
    """A sampler, per prompt, of the exact bias² of the :math:`N \\to \\infty` chain (sparse w)
    with the Gaussian-prior formula at :math:`\\psi^2 = k/d` and at :math:`\\psi^2 = 1`.

    Parameters
    ----------
    setting : Prototype
        Its task, step and number of thoughts; the penalty is 1/n.
    designs : DesignLog
        Where the designs drawn are recorded.

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch, 3)``.
    """
    eta, steps, n, lam = setting.eta, setting.steps, setting.n, 1 / setting.n

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        p = prototype_prompts(setting, designs, batch, g)
        bias2 = ((theory.ridge_gd_iterate(p.X, p.y, eta, lam, steps) - p.w) ** 2).sum(1)
        s = torch.linalg.eigvalsh(p.X.transpose(1, 2) @ p.X / n).clamp(min=0)

        def risk(psi2: float) -> torch.Tensor:
            return theory.gd_risk_given_spectrum(
                s, n, eta=eta, steps=steps, sigma2=setting.sigma2, psi2=psi2, lam=lam
            )

        return torch.stack([bias2, risk(setting.psi2), risk(1.0)], 1)

    return sample


def norm_remainder(b: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """The remainder g of the first-order expansion of :math:`\\mathbb{E}\\|b + e\\|`.

    Parameters
    ----------
    b : torch.Tensor
        :math:`m_T - w`, ``(..., d)``.
    e : torch.Tensor
        The average of the chains minus :math:`m_T`, ``(..., d)``.

    Returns
    -------
    torch.Tensor
        ``(...)``.

    Notes
    -----
    With :math:`r = 2b^\\top e + \\|e\\|^2`,
    :math:`g = \\|b + e\\| - \\|b\\| - r/(2\\|b\\|) + (2b^\\top e)^2/(8\\|b\\|^3)`, whose mean is
    :math:`\\mathbb{E}\\|b + e\\|` minus its first-order value.
    """
    cross = (b * e).sum(-1)
    r = 2 * cross + (e**2).sum(-1)
    nb = b.norm(dim=-1)
    return (b + e).norm(dim=-1) - nb - r / (2 * nb) + (2 * cross) ** 2 / (8 * nb**3)


def remainder_bound(values: Estimate) -> float:
    """The bias a norm check ignores: :math:`|\\text{mean of } g| + 4\\,\\text{SE}`.

    Parameters
    ----------
    values : Estimate
        The remainder g of :func:`norm_remainder`, with its mean and standard error.

    Returns
    -------
    float
        The bound.
    """
    return abs(values.mean) + 4 * values.stderr


def one_chain_sampler(setting: Prototype, designs: DesignLog) -> Sampler:
    """A sampler, per prompt, of the exact quantities of :data:`ONE_CHAIN` and one sampled
    chain's error, then for each N of :data:`ROWS_N` the first-order value
    :math:`\\|b\\| + c/N` and the exact upper bound :math:`(\\|b\\|^2 + \\operatorname{tr}
    C_T/N)^{1/2}`.

    Parameters
    ----------
    setting : Prototype
        Its task, step, number of thoughts and level :math:`\\delta`.
    designs : DesignLog
        Where the designs drawn are recorded.

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch, len(ONE_CHAIN) + 2 len(ROWS_N))``.

    Notes
    -----
    With :math:`b = m_T - w` and :math:`v = b^\\top C_T b/\\|b\\|^2`, the 1/N coefficient is
    :math:`c = (\\operatorname{tr} C_T - v)/(2\\|b\\|)`.
    """
    eta, steps, level = setting.eta, setting.steps, setting.level

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        p = prototype_prompts(setting, designs, batch, g)
        bias2, trace, quad = theory.chain_error_moments(
            p.X, p.y, p.w, eta=eta, steps=steps, level=level
        )
        ridge, v = bias2.sqrt(), quad / bias2
        coef = (trace - v) / (2 * ridge)
        gd = (theory.ridge_gd_iterate(p.X, p.y, eta, 0.0, steps) - p.w).norm(dim=-1)
        m_T = theory.chain_mean(p.X, p.y, eta=eta, steps=steps, noise="multiplicative", level=level)
        w_T = sample_chains(
            p.X, p.y, eta=eta, steps=steps, noise="multiplicative", level=level, generator=g
        )[:, 0]
        error = (w_T - p.w).norm(dim=-1)
        column = {
            "gd": gd,
            "ridge": ridge,
            "gd - ridge": gd - ridge,
            "c": coef,
            "v": v,
            "gd^2 - ridge^2": gd**2 - bias2,
            "tr C": trace,
            "error": error,
            "error^2": error**2,
            "bias^2": bias2,
            "exact^2": bias2 + trace,
            "error^2 - gd^2": error**2 - gd**2,
            "remainder": norm_remainder(m_T - p.w, w_T - m_T),
        }
        per_n = [ridge + coef / n for n in ROWS_N] + [(bias2 + trace / n).sqrt() for n in ROWS_N]
        return torch.stack([column[name] for name in ONE_CHAIN] + per_n, -1)

    return sample


@dataclass(frozen=True)
class OneChain:
    """One sampled chain on each of many prompts, with each prompt's exact quantities.

    ``estimate``: the raw :class:`Estimate` (columns :data:`ONE_CHAIN`, then the first-order
    values and the upper bounds for :data:`ROWS_N`); ``column[name]``: one column's
    :class:`Estimate` with its per-prompt values; ``mean``, ``se``, ``sd``: each column's mean,
    standard error and per-prompt standard deviation; ``first_order[N]``: (mean, SE) of the
    first-order value; ``upper[N]``: the mean exact upper bound.
    """

    estimate: Estimate
    column: dict
    mean: dict
    se: dict
    sd: dict
    first_order: dict
    upper: dict

    def first_order_estimate(self, n_avg: int) -> Estimate:
        """The first-order value at ``n_avg`` chains, with its per-prompt values."""
        return self.estimate[len(ONE_CHAIN) + ROWS_N.index(n_avg)]


def one_chain_per_prompt(
    setting: Prototype, designs: DesignLog, prompts: int, *, seed: int, chunk_size: int
) -> OneChain:
    """Run :func:`one_chain_sampler` over ``prompts`` prompts and split its columns.

    Parameters
    ----------
    setting : Prototype
        The prototype's setting.
    designs : DesignLog
        Where the designs drawn are recorded.
    prompts : int
        How many prompts.
    seed : int
        The seed of :func:`icl.harness.montecarlo.estimate_mean`.
    chunk_size : int
        The prompts of one chunk.

    Returns
    -------
    OneChain
        The estimate and its columns by name.
    """
    single = montecarlo.estimate_mean(
        one_chain_sampler(setting, designs),
        prompts,
        seed=seed,
        chunk_size=chunk_size,
        keep_values=True,
    )
    se = dict(zip(ONE_CHAIN, single.stderr))
    return OneChain(
        estimate=single,
        column={name: single[i] for i, name in enumerate(ONE_CHAIN)},
        mean=dict(zip(ONE_CHAIN, single.mean)),
        se=se,
        sd={name: value * single.n_samples**0.5 for name, value in se.items()},
        first_order={
            n: (single.mean[len(ONE_CHAIN) + i], single.stderr[len(ONE_CHAIN) + i])
            for i, n in enumerate(ROWS_N)
        },
        upper={n: single.mean[len(ONE_CHAIN) + len(ROWS_N) + i] for i, n in enumerate(ROWS_N)},
    )


def nested_sampler(setting: Prototype, designs: DesignLog, n_avg: list[int]) -> Sampler:
    """A sampler, per prompt and N in ``n_avg`` (the average of the first N chains of one
    sequence), of the quantities of :data:`NESTED_COLUMNS`.

    Parameters
    ----------
    setting : Prototype
        Its task, step, number of thoughts, level :math:`\\delta` and ridge
        penalty.
    designs : DesignLog
        Where the designs drawn are recorded.
    n_avg : list of int
        The N of the nested averages; each prompt runs ``max(n_avg)`` chains.

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch, len(n_avg), len(NESTED_COLUMNS))``.

    Notes
    -----
    The columns: the error :math:`\\|\\bar w_N - w\\|`, its first-order value, the squared risk
    :math:`\\|b\\|^2 + \\operatorname{tr} C_T/N`, the spread :math:`\\|\\bar w_N - m_T\\|^2`,
    :math:`\\operatorname{tr} C_T/N`, :math:`\\operatorname{tr} C_T`,
    :math:`\\|\\bar w_N - w\\|^2 - \\|w_{GD} - w\\|^2` and the remainder g of
    :func:`norm_remainder`. The decoded ridge and greedy chains are asserted equal to their
    closed forms to T steps of round-off.
    """
    eta, steps, level = setting.eta, setting.steps, setting.level

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        p = prototype_prompts(setting, designs, batch, g)
        chains = sample_chains(
            p.X,
            p.y,
            eta=eta,
            steps=steps,
            n_chains=max(n_avg),
            noise="multiplicative",
            level=level,
            generator=g,
        )
        avg = techniques.nested_averages(chains, n_avg)
        bias2, trace, quad = (
            v.unsqueeze(1)
            for v in theory.chain_error_moments(p.X, p.y, p.w, eta=eta, steps=steps, level=level)
        )
        counts = torch.tensor(n_avg, dtype=p.X.dtype, device=p.X.device)
        m_T = sample_chains(p.X, p.y, eta=eta, steps=steps, lam=setting.lam_ridge)[:, 0]
        greedy = sample_chains(p.X, p.y, eta=eta, steps=steps)[:, 0]
        rounding = steps * torch.finfo(p.X.dtype).eps  # T steps of round-off
        mean_T = theory.chain_mean(
            p.X, p.y, eta=eta, steps=steps, noise="multiplicative", level=level
        )
        torch.testing.assert_close(m_T, mean_T, rtol=rounding, atol=rounding)
        gd_T = theory.ridge_gd_iterate(p.X, p.y, eta, 0.0, steps)
        torch.testing.assert_close(greedy, gd_T, rtol=rounding, atol=rounding)
        error = (avg - p.w.unsqueeze(1)).norm(dim=-1)
        first = bias2.sqrt() + (trace - quad / bias2) / (2 * counts * bias2.sqrt())
        spread = ((avg - m_T.unsqueeze(1)) ** 2).sum(-1)
        gd2 = ((greedy - p.w) ** 2).sum(1, keepdim=True)
        columns = [
            error,
            first,
            bias2 + trace / counts,
            spread,
            trace / counts,
            trace.expand_as(error),
            error**2 - gd2,
            norm_remainder((m_T - p.w).unsqueeze(1), avg - m_T.unsqueeze(1)),
        ]
        return torch.stack(columns, -1)

    return sample


def nested_averages(
    setting: Prototype,
    designs: DesignLog,
    n_avg: list[int],
    prompts: int,
    *,
    seed: int,
    chains: int,
) -> Estimate:
    """Run :func:`nested_sampler` over ``prompts`` prompts, at most ``chains`` chains a chunk.

    Parameters
    ----------
    setting : Prototype
        The prototype's setting.
    designs : DesignLog
        Where the designs drawn are recorded.
    n_avg : list of int
        The N of the nested averages; each prompt runs ``max(n_avg)`` chains.
    prompts : int
        How many prompts.
    seed : int
        The seed of :func:`icl.harness.montecarlo.estimate_mean`.
    chains : int
        The chains of one chunk: ``max(1, chains // max(n_avg))`` prompts a chunk.

    Returns
    -------
    Estimate
        Shape ``(len(n_avg), len(NESTED_COLUMNS))``, with its per-prompt values.
    """
    return montecarlo.estimate_mean(
        nested_sampler(setting, designs, n_avg),
        prompts,
        seed=seed,
        chunk_size=max(1, chains // max(n_avg)),
        keep_values=True,
    )


def simulated_points(single: OneChain, nested: Estimate, n_avg: list[int]) -> tuple[dict, dict]:
    """The simulated points of the prototype's figures.

    Parameters
    ----------
    single : OneChain
        One chain on each of many prompts (the point N = 1 of ``excess``).
    nested : Estimate
        The nested averages (:func:`nested_averages`), one row per N of ``n_avg``.
    n_avg : list of int
        The N of the nested averages.

    Returns
    -------
    tuple of dict
        ``excess``: N -> (mean, SE) of :math:`\\|\\bar w_N - w\\|^2 - \\|w_{GD} - w\\|^2`, paired
        (N = 1 from the single chains); ``spread``: N -> (mean, SE) of
        :math:`\\|\\bar w_N - m_T\\|^2`.
    """
    excess_at = NESTED_COLUMNS.index("error^2 - gd^2")
    spread_at = NESTED_COLUMNS.index("spread")
    excess = {1: (single.mean["error^2 - gd^2"], single.se["error^2 - gd^2"])}
    spread = {}
    for i, n in enumerate(n_avg):
        excess[n] = (nested.mean[i][excess_at], nested.stderr[i][excess_at])
        spread[n] = (nested.mean[i][spread_at], nested.stderr[i][spread_at])
    return excess, spread


def simulated_rows(
    single: OneChain, nested: Estimate, n_avg: list[int], checks: list[claims.ClaimRecord]
) -> dict:
    """The book's simulation of the prototype's protocol, one row per N, for
    :func:`legend_table`.

    Parameters
    ----------
    single : OneChain
        One chain on each of many prompts (the row N = 1).
    nested : Estimate
        The nested averages (:func:`nested_averages`), one row per N of ``n_avg``.
    n_avg : list of int
        The N of the nested averages.
    checks : list of ClaimRecord
        The prototype's checks; those of the unsquared error, ``ch3.prototype.norm.N<N>``,
        give each row's paired z.

    Returns
    -------
    dict
        ``N -> (mean simulated error, its SE, mean first-order prediction, paired z)``.
    """
    z = {r.params["N"]: r.z_score for r in checks if r.claim_id.startswith("ch3.prototype.norm.")}
    rows = {1: (single.mean["error"], single.se["error"], single.first_order[1][0], z[1])}
    for i, n in enumerate(n_avg):
        at = nested_columns(nested, i)
        rows[n] = (at["error"].mean, at["error"].stderr, at["first order"].mean, z[n])
    return rows


def nested_columns(nested: Estimate, i: int) -> dict:
    """The ``i``-th N's columns of a nested estimate, by name, each with its values.

    Parameters
    ----------
    nested : Estimate
        The nested averages (:func:`nested_averages`).
    i : int
        The index of the N in the nested averages' ``n_avg``.

    Returns
    -------
    dict
        Name in :data:`NESTED_COLUMNS` -> that column's :class:`Estimate`.
    """
    return {name: nested[i, j] for j, name in enumerate(NESTED_COLUMNS)}


@dataclass(frozen=True)
class LegendComparison:
    """The prototype's legend against the book's prediction.

    ``predicted[row]``, ``predicted_diff[row]``: (value, SE, per-prompt SD) of the predicted
    level and of its difference from the ridge row; ``agree[row]``: the deviations ``level``,
    ``diff`` and their SEs ``level_se``, ``diff_se``, with ``own_se`` the prototype's own SE of
    the difference.
    """

    predicted: dict
    predicted_diff: dict
    agree: dict

    def z_scores(self) -> list[float]:
        """Every deviation in standard errors, levels then differences."""
        levels = [a["level"] / a["level_se"] for a in self.agree.values()]
        diffs = [a["diff"] / a["diff_se"] for a in self.agree.values() if "diff" in a]
        return levels + diffs


def prototype_se(sd_per_prompt: float, rounding: float) -> float:
    """The SE of an average over the prototype's 4096 prompts of a value with this per-prompt
    SD, with the legend's rounding: :math:`(\\text{sd}^2/4096 + \\text{rounding}^2)^{1/2}`.

    Parameters
    ----------
    sd_per_prompt : float
        The value's per-prompt standard deviation.
    rounding : float
        The SE of the legend's rounding (0 for an unrounded value).

    Returns
    -------
    float
        The SE.
    """
    return (sd_per_prompt**2 / PROTOTYPE_PROMPTS + rounding**2) ** 0.5


def compare_legend(single: OneChain) -> LegendComparison:
    """Each legend value against the book's prediction, in level and as a difference from the
    ridge row.

    Parameters
    ----------
    single : OneChain
        One chain on each of many prompts, with each prompt's exact quantities.

    Returns
    -------
    LegendComparison
        The predictions and the legend's deviations from them.

    Notes
    -----
    The prediction for N chains is :math:`\\mathbb{E}[\\|b\\| + c/N]`; the chains' noise adds a
    per-prompt variance :math:`\\mathbb{E}\\,v/N` to the level and to the difference
    :math:`\\mathbb{E}\\,c/N`. A deviation's SE combines the book's SE with the prototype's own,
    :func:`prototype_se`.
    """
    mean, se, sd = single.mean, single.se, single.sd
    n_prompts = single.estimate.n_samples
    predicted = {
        "GD": (mean["gd"], se["gd"], sd["gd"]),
        "ridge": (mean["ridge"], se["ridge"], sd["ridge"]),
    }
    predicted_diff = {"GD": (mean["gd - ridge"], se["gd - ridge"], sd["gd - ridge"])}
    for n_avg in ROWS_N:
        chain_var = mean["v"] / n_avg  # the chains' noise per prompt, to first order
        value, value_se = single.first_order[n_avg]
        predicted[n_avg] = (value, value_se, (value_se**2 * n_prompts + chain_var) ** 0.5)
        predicted_diff[n_avg] = (
            mean["c"] / n_avg,
            se["c"] / n_avg,
            ((sd["c"] / n_avg) ** 2 + chain_var) ** 0.5,
        )
    agree = {}
    for row in LEGEND:
        value, value_se, value_sd = predicted[row]
        agree[row] = dict(
            level=LEGEND[row] - value,
            level_se=(value_se**2 + prototype_se(value_sd, ROUNDING[row]) ** 2) ** 0.5,
        )
        if row != "ridge":
            d_value, d_se, d_sd = predicted_diff[row]
            own_se = prototype_se(d_sd, (ROUNDING[row] ** 2 + ROUNDING["ridge"] ** 2) ** 0.5)
            agree[row].update(
                diff=LEGEND[row] - LEGEND["ridge"] - d_value,
                diff_se=(d_se**2 + own_se**2) ** 0.5,
                own_se=own_se,
            )
    return LegendComparison(predicted, predicted_diff, agree)


def squared_reading(single: OneChain, comparison: LegendComparison) -> dict:
    """The legend read as squared errors: the GD and one-chain rows' differences from the ridge
    row that the book's squared risks give, against the prototype's.

    Parameters
    ----------
    single : OneChain
        One chain on each of many prompts, with each prompt's exact quantities.
    comparison : LegendComparison
        The legend against the prediction (for the prototype's own SEs).

    Returns
    -------
    dict
        ``row -> (squared difference, its SE, distance from the prototype's difference in
        combined SEs, the prototype's difference)`` for the rows ``"GD"`` and ``1``.

    Notes
    -----
    The squared differences are :math:`\\mathbb{E}[\\|w_{GD} - w\\|^2 - \\|m_T - w\\|^2]`
    (GD) and :math:`\\mathbb{E}\\operatorname{tr} C_T` (one chain); the combined SE adds the
    book's and the prototype's in quadrature.
    """
    out = {}
    for row, name in (("GD", "gd^2 - ridge^2"), (1, "tr C")):
        gap_se = (single.se[name] ** 2 + comparison.agree[row]["own_se"] ** 2) ** 0.5
        gap = LEGEND[row] - LEGEND["ridge"]
        value = single.mean[name]
        out[row] = (value, single.se[name], abs(gap - value) / gap_se, gap)
    return out


def record_legend(comparison: LegendComparison, prompts: int) -> None:
    """Record each legend row's deviation from the prediction as a measurement
    (:func:`icl.harness.claims.measure`): ``ch3.prototype-legend.<row>`` for the level and
    ``ch3.prototype-legend.<row>-minus-ridge`` for the difference from the ridge row.

    Parameters
    ----------
    comparison : LegendComparison
        The deviations and their SEs.
    prompts : int
        The prompts the prediction averaged over, recorded with each measurement.
    """
    for row, a in comparison.agree.items():
        claims.measure(
            f"ch3.prototype-legend.{row}",
            f"prototype's legend ({row}) minus the book's prediction",
            a["level"],
            a["level_se"],
            prompts=prompts,
        )
        if "diff" in a:
            claims.measure(
                f"ch3.prototype-legend.{row}-minus-ridge",
                f"prototype's ({row}) - (ridge) minus the book's prediction, paired",
                a["diff"],
                a["diff_se"],
                prompts=prompts,
            )


def legend_table(comparison: LegendComparison, simulated: dict) -> list[str]:
    """The comparison as text lines: per row the legend, the prediction ± SE and z, in level and
    minus the ridge row, and the book's own simulation (``simulated[row]``: mean, SE,
    prediction, z) where there is one.

    Parameters
    ----------
    comparison : LegendComparison
        The legend against the prediction (:func:`compare_legend`).
    simulated : dict
        ``row -> (mean, SE, prediction, z)`` of the book's simulation
        (:func:`simulated_rows`); rows absent are not simulated.

    Returns
    -------
    list of str
        The header lines, then one line per legend row.
    """
    lines = [
        f"{'':8} | {'prototype':>9} {'prediction ± SE':>19} {'z':>5} | {'prototype':>9} "
        f"{'prediction ± SE':>19} {'z':>5} |"
        f" {'simulation ± SE':>17} {'prediction':>10} {'z':>6}",
        f"{'row':>8} | {'level':^37} | {'minus the ridge row (paired)':^37} | "
        f"{'simulation (own prompts, paired)':^36}",
    ]
    for row, a in comparison.agree.items():
        value, value_se, _ = comparison.predicted[row]
        label = row if isinstance(row, str) else f"N = {row}"
        line = (
            f"{label:>8} | {LEGEND[row]:9.5f} {value:9.5f} ± {value_se:.5f} "
            f"{a['level'] / a['level_se']:+5.1f} |"
        )
        if "diff" in a:
            line += (
                f" {LEGEND[row] - LEGEND['ridge']:9.6f} {comparison.predicted_diff[row][0]:9.6f} "
                f"± {comparison.predicted_diff[row][1]:.1e} {a['diff'] / a['diff_se']:+5.1f} |"
            )
        else:
            line += " " * 38 + "|"
        if row in simulated:
            sim, sim_se, sim_pred, sim_z = simulated[row]
            line += f" {sim:8.5f} ± {sim_se:.5f} {sim_pred:10.5f} {sim_z:+6.2f}"
        elif isinstance(row, str):
            line += "  decoded = exact per prompt"
        else:
            line += "  not simulated at this scale"
        lines.append(line)
    return lines


# --- the regulariser ---


def expected_spread(setting: Regulariser, s: torch.Tensor, level2: float) -> torch.Tensor:
    """:math:`\\mathbb{E}[\\operatorname{tr} C_T \\mid X]` of the multiplicative chain, averaged
    over :math:`w \\sim N(0, I)` and the label noise, for eigenvalues ``s (P, d)`` of S.

    Parameters
    ----------
    setting : Regulariser
        Its n, :math:`\\sigma^2`, step and number of thoughts.
    s : torch.Tensor
        The eigenvalues of :math:`S = X^\\top X / n`, ``(P, d)``.
    level2 : float
        The noise level :math:`\\delta^2`.

    Returns
    -------
    torch.Tensor
        ``(P,)``.

    Notes
    -----
    :math:`c_{t+1,j} = a_j^2 c_{t,j} + \\kappa(c_{t,j} + \\mu_{t,j} + \\sum_k (c_{t,k} +
    \\mu_{t,k}))`, :math:`\\mu_{t,j} = (s_j^2 + \\sigma^2 s_j/n)(1 - a_j^t)^2/(s_j + \\delta^2)^2`,
    with :math:`a_j = 1 - \\eta(s_j + \\delta^2)` and :math:`\\kappa = \\eta^2\\delta^4`.
    """
    eta, n, psi2 = setting.eta, setting.n, 1.0
    a = 1 - eta * (s + level2)
    kappa = eta**2 * level2**2
    mu2 = (psi2 * s**2 + setting.sigma2 * s / n) / (s + level2) ** 2
    c, power = torch.zeros_like(s), torch.ones_like(s)
    for _ in range(setting.steps):
        second = c + mu2 * (1 - power) ** 2
        c = a**2 * c + kappa * (second + second.sum(-1, keepdim=True))
        power = power * a
    return c.sum(-1)


@dataclass(frozen=True)
class RegulariserRisks:
    """The exact risks on a sample of designs, averaged over w and the label noise.

    ``s``: the designs' eigenvalues ``(P, d)``; ``bias``, ``trace``: per level of the grid and
    design, :math:`\\mathbb{E}[\\|m_T - w\\|^2 \\mid X]` and :math:`\\mathbb{E}[\\operatorname{tr}
    C_T \\mid X]`; ``bayes``, ``greedy``: per design; ``risk_N[N]``: the design-averaged risk of
    N chains at each level (``N = inf``: the ridge-GD iterate).
    """

    s: torch.Tensor
    bias: torch.Tensor
    trace: torch.Tensor
    bayes: torch.Tensor
    greedy: torch.Tensor
    risk_N: dict

    @property
    def bayes_risk(self) -> float:
        """The design-averaged Bayes risk."""
        return self.bayes.mean().item()

    @property
    def greedy_risk(self) -> float:
        """The design-averaged risk of the greedy chain."""
        return self.greedy.mean().item()


def regulariser_risks(
    setting: Regulariser, designs: DesignLog, n_designs: int, generator: torch.Generator
) -> RegulariserRisks:
    """Draw ``n_designs`` designs and compute, on each, the exact risks of the averaged chains at
    every level of the grid, of the greedy chain and of the Bayes estimator.

    Parameters
    ----------
    setting : Regulariser
        The over-fitting task: its n, d, :math:`\\sigma^2`, step and number of thoughts.
    designs : DesignLog
        Where the designs drawn are recorded.
    n_designs : int
        How many designs.
    generator : torch.Generator
        The randomness.

    Returns
    -------
    RegulariserRisks
        The designs' eigenvalues and their exact risks.

    Notes
    -----
    The average of N chains has risk :math:`\\mathbb{E}[\\|m_T - w\\|^2 \\mid X] +
    \\mathbb{E}[\\operatorname{tr} C_T \\mid X]/N` (:func:`expected_spread`); the Bayes risk is
    the ridge risk at :math:`\\lambda^*`, :math:`\\sum_j \\psi^2\\lambda^*/(s_j + \\lambda^*)`.
    """
    n, eta, steps, sigma2 = setting.n, setting.eta, setting.steps, setting.sigma2
    reg = tasks.sample_prompts(
        n_designs, n, setting.d, sigma2=sigma2, generator=generator, device=runtime.device()
    )
    designs.track("regulariser", reg.X, eta, setting.shift)
    s = torch.linalg.eigvalsh(reg.X.transpose(1, 2) @ reg.X / n).clamp(min=0)
    levels2 = setting.factors * setting.lam_star
    bias = torch.stack(
        [
            theory.gd_risk_given_spectrum(s, n, eta=eta, steps=steps, sigma2=sigma2, lam=lv)
            for lv in levels2
        ]
    )
    trace = torch.stack([expected_spread(setting, s, lv) for lv in levels2])
    bayes = theory.gd_risk_given_spectrum(
        s, n, eta=eta, steps=None, sigma2=sigma2, lam=setting.lam_star
    )
    greedy = theory.gd_risk_given_spectrum(s, n, eta=eta, steps=steps, sigma2=sigma2)
    risk_N = {n_avg: (bias + trace / n_avg).mean(1).cpu().numpy() for n_avg in (1, 10, 100)}
    risk_N[np.inf] = bias.mean(1).cpu().numpy()
    return RegulariserRisks(s, bias, trace, bayes, greedy, risk_N)


def chains_needed(risks: RegulariserRisks, eps: float, at: int) -> tuple[int, int, int]:
    """How many chains bring the average within ``eps`` of the Bayes risk.

    Parameters
    ----------
    risks : RegulariserRisks
        The exact risks over the grid (:func:`regulariser_risks`).
    eps : float
        The tolerance :math:`\\epsilon`, relative to the Bayes risk.
    at : int
        The index of a level of the grid.

    Returns
    -------
    tuple
        (N at grid level ``at``, the fewest N over the grid, the grid index of that fewest).

    Notes
    -----
    At a level with :math:`\\mathbb{E}\\,\\text{bias}^2 < (1 + \\epsilon) R_{\\text{Bayes}}`,
    :math:`N \\ge \\mathbb{E}\\operatorname{tr} C_T / ((1 + \\epsilon) R_{\\text{Bayes}} -
    \\mathbb{E}\\,\\text{bias}^2)`.
    """
    gap = (1 + eps) * risks.bayes_risk - risks.bias.mean(1)
    need = torch.where(gap > 0, risks.trace.mean(1) / gap, torch.full_like(gap, np.inf))
    k = int(torch.argmin(need))
    return int(np.ceil(need[at].item())), int(np.ceil(need[k].item())), k


def regulariser_one_chain(setting: Regulariser, designs: DesignLog, level2: float) -> Sampler:
    """A sampler, per fresh prompt, of one chain's :math:`\\|w_T - w\\|^2`, its exact mean
    :math:`\\text{bias}^2 + \\operatorname{tr} C_T` and the bias² alone, at noise level
    ``level2``.

    Parameters
    ----------
    setting : Regulariser
        The over-fitting task: its n, d, :math:`\\sigma^2`, step and number of thoughts.
    designs : DesignLog
        Where the designs drawn are recorded.
    level2 : float
        The noise level :math:`\\delta^2`.

    Returns
    -------
    Callable
        ``sample(batch, generator) -> (batch, 3)``.
    """
    n, eta, steps, level = setting.n, setting.eta, setting.steps, level2**0.5

    def sample(batch: int, g: torch.Generator) -> torch.Tensor:
        p = tasks.sample_prompts(
            batch,
            n,
            setting.d,
            sigma2=setting.sigma2,
            generator=g,
            device=runtime.device(),
            dtype=runtime.dtype(),
        )
        designs.track("regulariser", p.X, eta, setting.shift)
        w_T = sample_chains(
            p.X, p.y, eta=eta, steps=steps, noise="multiplicative", level=level, generator=g
        )[:, 0]
        bias2, trace = theory.chain_risk_terms(p.X, p.y, p.w, eta=eta, steps=steps, level=level)
        error = ((w_T - p.w) ** 2).sum(1)
        return torch.stack([error, bias2 + trace, bias2], 1)

    return sample
