"""The settings and experiments of Chapter 7, the softmax transformer.

The chapter: ``book/ch07_softmax_transformer.md``. The prompts are those of Chapter 5 at
:data:`icl.experiments.ch05.CHAPTER7` (``n = 16``, ``d = 8``, ``sigma^2 = 4``, ``eta = 1``); the
sampler is a trained :class:`~icl.models.softmax_transformer.CoefficientDecoder`, loaded from
its stored checkpoint. The exact answer distributions come from enumerating the tree of answer
prefixes (:func:`icl.decoders.coefficient_sampler.enumerate_margins`); the simulations sample the
network autoregressively. Every function returns per-prompt tensors, :class:`Estimate` objects or
small result dataclasses, which the chapter checks and measures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from icl import runtime, tasks, techniques, theory, validation
from icl.decoders import answer_distribution as ad
from icl.decoders.coefficient_sampler import (
    enumerate_margins,
    greedy_coefficients,
    log_probs_at,
    sample_coefficients,
)
from icl.domain import declared_error
from icl.experiments.ch05 import CHAPTER7 as SETTING
from icl.experiments.ch05 import Setting
from icl.harness import montecarlo
from icl.harness.montecarlo import Estimate
from icl.models import softmax_transformer as st

__all__ = [
    "SETTING",
    "Sizes",
    "sizes",
    "Grids",
    "GRIDS",
    "checkpoint_path",
    "load_model",
    "cross_entropies",
    "cross_entropy_labels",
    "Evaluation",
    "evaluate",
    "Draws",
    "draw",
    "FLOAT32",
    "ignores",
    "voted",
    "vector_vote_right",
    "vector_vote_curve",
    "best_of_n_right",
    "greedy_model",
    "greedy_accuracies",
    "exact_curves",
    "linear_samples",
    "vote_limits",
    "vote_limit_gaps",
    "pass_curves",
    "best_temperature",
    "BestTemperature",
    "best_temperatures",
    "fixed_budget",
    "budget_optima",
    "agreement",
    "bayes_conditional",
    "calibration_predictors",
    "VOTE_LIMITS",
    "decoder_gaps",
    "apart",
    "carry_over_table",
]

CHUNK = 1000  # prompts per pass of the network over the tree of answers


@dataclass(frozen=True)
class Sizes:
    """The chapter's Monte Carlo sizes at one scale.

    ``cross_entropy``: fresh prompts for the cross-entropies; ``evaluation``: the evaluation
    prompts of the exact curves and measurements; ``simulated``: the first evaluation prompts,
    sampled for the checks; ``bootstrap``: resamples of the best temperature's standard error.
    """

    cross_entropy: int
    evaluation: int
    simulated: int
    bootstrap: int

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            validation.integer(name, getattr(self, name), minimum=2)
        if self.simulated > self.evaluation:
            raise ValueError("simulated must be at most evaluation")


def sizes() -> Sizes:
    """The chapter's sizes at the run's scale (:func:`icl.runtime.by_scale`).

    Returns
    -------
    Sizes
        ``smoke``: 2,000 / 1,000 / 500 prompts, 200 resamples; ``full``: 100,000 / 20,000 /
        8,000 prompts, 400 resamples.
    """
    return runtime.by_scale(
        smoke=Sizes(2000, 1000, 500, 200), full=Sizes(100_000, 20_000, 8000, 400)
    )


@dataclass(frozen=True)
class Grids:
    """The chapter's grids: the sampling check and the axes of its curves.

    ``temperature``: the temperature of the checks; ``per_prompt``: samples per checked prompt;
    ``k``: the ``k`` of pass@k and the ``N`` of best-of-N in the checks; ``estimator``: the
    samples per unbiased pass@k estimate; ``samples``: the ``N`` axis of the exact curves;
    ``vector_vote``: the simulated whole-vector votes; ``limits``: the temperatures of the vote
    limits; ``pass_k``: the ``k`` of the best temperatures; ``agreement``: the votes of the
    :math:`1/\\Delta^2` collapse; ``budget``: the fixed budget against the temperature.
    """

    temperature: float = 1.0
    per_prompt: int = 64
    k: int = 8
    estimator: int = 16
    samples: tuple[int, ...] = (1, 2, 3, 5, 9, 17, 33, 65, 129, 257, 513, 1025)
    vector_vote: tuple[int, ...] = (1, 4, 16, 64)
    limits: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    pass_k: tuple[int, ...] = (1, 4, 16, 64)
    agreement: tuple[int, ...] = (1, 3, 5, 9, 15, 21, 31, 63)
    budget: int = 16

    def __post_init__(self) -> None:
        validation.positive("temperature", self.temperature)
        for name in ("per_prompt", "k", "estimator", "budget"):
            validation.integer(name, getattr(self, name))
        for name in ("samples", "vector_vote", "pass_k", "agreement"):
            for value in getattr(self, name):
                validation.integer(name, value, maximum=None if name == "samples" else 64)
        for value in self.limits:
            validation.positive("limits", value)

    @property
    def temperatures(self) -> np.ndarray:
        """The 49 temperatures, geometric from 0.05 to 20, of the curves against ``T``."""
        return np.geomspace(0.05, 20, 49)

    @property
    def grid_se(self) -> float:
        """A grid step in :math:`\\log T` over :math:`\\sqrt{12}`: the floor of a standard error
        of a best :math:`\\log T` on :attr:`temperatures`."""
        temps = self.temperatures
        return np.log(temps[1] / temps[0]) / np.sqrt(12)


GRIDS = Grids()


# --- the model ---


def checkpoint_path(scale: str) -> Path:
    """The stored checkpoint of the model at ``scale``: ``book/data/ch07_<scale>.pt``.

    Parameters
    ----------
    scale : str
        The model's scale, ``"smoke"`` or ``"full"``.

    Returns
    -------
    pathlib.Path
    """
    return runtime.book_root() / "book" / "data" / f"ch07_{scale}.pt"


def load_model(scale: str, device: torch.device) -> tuple[st.CoefficientDecoder, dict]:
    """The trained model of ``scale`` and its checkpoint's metadata.

    The model is trained from seed 0 and stored first when the checkpoint is missing or
    ``ICL_RETRAIN=1``; otherwise the stored weights are loaded as they are.

    Parameters
    ----------
    scale : str
        The model's scale (:func:`icl.runtime.model_scale`).
    device : torch.device
        Where the model runs.

    Returns
    -------
    tuple of (CoefficientDecoder, dict)
        The model in eval mode, and the metadata of
        :func:`icl.models.softmax_transformer.load_checkpoint`.
    """
    path = checkpoint_path(scale)
    if os.environ.get("ICL_RETRAIN") == "1" or not path.is_file():
        model, training, history = st.train_at_scale(scale, seed=0)
        command = (
            f"python -m icl.models.softmax_transformer --out book/data/{path.name} "
            f"--scale {scale} --seed 0"
        )
        st.save_checkpoint(path, model, training, history, seed=0, command=command)
    return st.load_checkpoint(path, device=device)


def _chunked(fn: Callable, model, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.cat(
        [fn(model, X[i : i + CHUNK], y[i : i + CHUNK]) for i in range(0, len(X), CHUNK)]
    )


def _prompts(setting: Setting, batch: int, gen: torch.Generator) -> tasks.Prompts:
    return tasks.sample_prompts(
        batch,
        setting.n,
        setting.d,
        prior="rademacher",
        sigma2=setting.sigma2,
        generator=gen,
        device=runtime.device(),
    )


# --- cross-entropies ---


def cross_entropies(
    model: st.CoefficientDecoder, setting: Setting, prompts: int, t_cal: float, seed: int
) -> Estimate:
    """The cross-entropies of the model, the Bayes posterior and the linear decoder.

    Parameters
    ----------
    model : CoefficientDecoder
        The trained model.
    setting : Setting
        The prompts and the linear decoder's step ``eta``.
    prompts : int
        Fresh prompts, drawn in chunks of 1000.
    t_cal : float
        The linear decoder's calibration temperature.
    seed : int
        The seed of :func:`icl.harness.montecarlo.estimate_mean`.

    Returns
    -------
    Estimate
        Five components, in nats per coefficient: :math:`-\\log P(w)/d` under the model, the
        Bayes posterior, the linear decoder at :math:`T = 1` and at ``t_cal``; and the model's
        excess over the posterior.

    Notes
    -----
    The excess is :math:`\\mathbb{E}\\,\\mathrm{KL}(P(\\cdot \\mid X, y) \\,\\|\\,
    P_{\\text{model}}) / d`.
    """
    d, eta = setting.d, setting.eta

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        p = _prompts(setting, batch, gen)
        model_lp = log_probs_at(enumerate_margins(model, p.X, p.y), 1.0)
        bayes_lp = ad.rademacher_log_posterior(p.X, p.y, setting.sigma2)
        linear_lp, calibrated_lp = (
            ad.linear_log_probs(p.X, p.y, eta, 1.0),
            ad.linear_log_probs(p.X, p.y, eta, t_cal),
        )
        log_probs = (model_lp, bayes_lp, linear_lp, calibrated_lp)
        values = -torch.stack([ad.probability_of(lp, p.w).log() for lp in log_probs], 1) / d
        return torch.cat([values, values[:, :1] - values[:, 1:2]], 1)

    return montecarlo.estimate_mean(sample, prompts, seed=seed, chunk_size=CHUNK)


def cross_entropy_labels(t_cal: float) -> list[str]:
    """The names of the first four components of :func:`cross_entropies`, in their order.

    Parameters
    ----------
    t_cal : float
        The linear decoder's calibration temperature, printed in the last name.

    Returns
    -------
    list of str
        The trained model, the Bayes posterior, the linear decoder at :math:`T = 1` and at
        ``t_cal``.
    """
    return [
        "trained model",
        "Bayes posterior",
        "linear decoder, T = 1",
        f"linear decoder, T_cal = {t_cal:g}",
    ]


# --- the evaluation prompts ---


@dataclass(frozen=True)
class Evaluation:
    """The evaluation prompts with the exact answer distributions of both decoders.

    Attributes
    ----------
    prompts : Prompts
        ``X (B, n, d)``, ``y (B, n)``, ``w (B, d)``.
    margins : torch.Tensor
        ``(B, 2^d, d)``: the model's margins :math:`m_j(v_{<j})` along every answer.
    bayes : torch.Tensor
        ``(B, 2^d)``: the Bayes log-posterior of every answer.
    loss : torch.Tensor
        ``(B, 2^d)``: the in-context loss of every answer.
    eta : float
        The linear decoder's step.
    """

    prompts: tasks.Prompts
    margins: torch.Tensor
    bayes: torch.Tensor
    loss: torch.Tensor
    eta: float

    @property
    def w(self) -> torch.Tensor:
        """The prompts' coefficients, ``(B, d)``."""
        return self.prompts.w

    def model_lp(self, temperature: float) -> torch.Tensor:
        """The model's log-probability of every answer at ``temperature``, ``(B, 2^d)``.

        Parameters
        ----------
        temperature : float
            The decoding temperature.

        Returns
        -------
        torch.Tensor

        Notes
        -----
        :math:`\\log P_T(v) = \\sum_j \\log \\sigma(v_j m_j(v_{<j}) / T)`.
        """
        return log_probs_at(self.margins, temperature)

    def linear_lp(self, temperature: float) -> torch.Tensor:
        """The linear decoder's log-probability of every answer at ``temperature``, ``(B, 2^d)``.

        Parameters
        ----------
        temperature : float
            The decoding temperature.

        Returns
        -------
        torch.Tensor
        """
        return ad.linear_log_probs(self.prompts.X, self.prompts.y, self.eta, temperature)

    def right_marginals(self, log_probs: torch.Tensor) -> torch.Tensor:
        """:math:`q_j = P(v_j = w_j)` per prompt and coefficient.

        Parameters
        ----------
        log_probs : torch.Tensor
            ``(b, 2^d)`` for the first ``b`` prompts.

        Returns
        -------
        torch.Tensor
            ``(b, d)``.
        """
        q = ad.marginals(log_probs)
        return torch.where(self.w[: len(q)] > 0, q, 1 - q)

    def linear_greedy(self) -> torch.Tensor:
        """The linear decoder's greedy answer :math:`\\operatorname{sign}(\\hat w)`, ``(B, d)``.

        Returns
        -------
        torch.Tensor
        """
        return torch.sign(ad.linear_estimate(self.prompts.X, self.prompts.y, self.eta))


def evaluate(model: st.CoefficientDecoder, setting: Setting, prompts: int, seed: int) -> Evaluation:
    """Draw the evaluation prompts and enumerate the model's answers on them.

    Parameters
    ----------
    model : CoefficientDecoder
        The trained model.
    setting : Setting
        The prompts and ``eta``.
    prompts : int
        How many.
    seed : int
        The seed of the prompts' generator.

    Returns
    -------
    Evaluation
    """
    device = runtime.device()
    p = _prompts(setting, prompts, runtime.generator(seed, device))
    margins = _chunked(enumerate_margins, model, p.X, p.y)
    bayes = ad.rademacher_log_posterior(p.X, p.y, setting.sigma2)
    vectors = ad.sign_vectors(setting.d, device=device, dtype=p.X.dtype)
    loss = techniques.in_context_loss(vectors.expand(prompts, -1, -1), p.X, p.y)
    return Evaluation(p, margins, bayes, loss, setting.eta)


def greedy_model(model: st.CoefficientDecoder, ev: Evaluation) -> torch.Tensor:
    """The model's greedy answers on the evaluation prompts, ``(B, d)``.

    Parameters
    ----------
    model : CoefficientDecoder
        The trained model.
    ev : Evaluation
        The prompts.

    Returns
    -------
    torch.Tensor
    """
    return _chunked(greedy_coefficients, model, ev.prompts.X, ev.prompts.y)


# --- sampling, checked against the enumeration ---


@dataclass(frozen=True)
class Draws:
    """Autoregressive samples of the model on the first evaluation prompts.

    Attributes
    ----------
    samples : torch.Tensor
        ``(b, per_prompt, d)``, entries ``+-1``.
    w : torch.Tensor
        ``(b, d)``: the prompts' coefficients.
    log_probs : torch.Tensor
        ``(b, 2^d)``: the enumeration's :math:`\\log P_T` at the sampling temperature.
    apart : Estimate
        Per sample, :math:`\\sum_j |p_j - p'_j|` between the sampler's and the enumeration's
        token probabilities along its path, averaged per prompt.
    """

    samples: torch.Tensor
    w: torch.Tensor
    log_probs: torch.Tensor
    apart: Estimate

    @property
    def right(self) -> torch.Tensor:
        """Whether each sample is ``w``, ``(b, per_prompt)`` in float64."""
        return (self.samples == self.w.unsqueeze(1)).all(-1).double()

    def groups(self, size: int) -> tuple[torch.Tensor, int]:
        """The samples of each prompt cut into ``per_prompt // size`` groups.

        Parameters
        ----------
        size : int
            Samples per group.

        Returns
        -------
        tuple of (torch.Tensor, int)
            ``(b * groups, size, d)`` and the number of groups per prompt.
        """
        b, per_prompt, d = self.samples.shape
        g = per_prompt // size
        return self.samples[:, : g * size].reshape(b * g, size, d), g


def draw(
    model: st.CoefficientDecoder,
    ev: Evaluation,
    prompts: int,
    per_prompt: int,
    temperature: float,
    seed: int,
) -> Draws:
    """Sample the model on the first ``prompts`` evaluation prompts.

    Parameters
    ----------
    model : CoefficientDecoder
        The trained model.
    ev : Evaluation
        The prompts and their enumerated margins.
    prompts : int
        How many of the first prompts.
    per_prompt : int
        Samples per prompt.
    temperature : float
        The decoding temperature.
    seed : int
        The seed of the sampler's generator.

    Returns
    -------
    Draws
    """
    X, y = ev.prompts.X[:prompts], ev.prompts.y[:prompts]
    gen = runtime.generator(seed, runtime.device())
    samples, step_probs = sample_coefficients(model, X, y, per_prompt, temperature, gen)
    d = samples.shape[-1]
    on_path = ev.margins[:prompts].gather(  # the enumeration's margins along each path
        1, ad.index_of(samples)[..., None].expand(-1, -1, d)
    )
    gap = (step_probs - torch.sigmoid(on_path / temperature)).abs().sum(-1).mean(1)
    log_probs = ev.model_lp(temperature)[:prompts]
    return Draws(samples, ev.w[:prompts], log_probs, Estimate.from_values(gap))


FLOAT32 = "sampler vs enumeration, float32"


def ignores(
    samples: float,
    per_sample: float,
    *,
    binomial: torch.Tensor | None = None,
    estimator: torch.Tensor | None = None,
) -> dict[str, float]:
    """The biases a check of the sampler against the enumeration ignores, by label.

    Parameters
    ----------
    samples : float
        How many samples each per-prompt estimate is computed from (a mean where it varies).
    per_sample : float
        The bound on the total variation between the sampler's and the enumeration's law of one
        sample (the mean of :attr:`Draws.apart` plus four standard errors).
    binomial : torch.Tensor, optional
        Values of :func:`icl.theory.majority_vote_accuracy` the check uses as its theory.
    estimator : torch.Tensor, optional
        Values of :func:`icl.theory.unbiased_pass_at_k` the check uses as its estimate.

    Returns
    -------
    dict of str to float
        ``"sampler vs enumeration, float32"`` (:data:`FLOAT32`): ``samples * per_sample``, the
        most by which an estimate in :math:`[0, 1]` from that many samples can move; with
        ``binomial``, ``"binomial sums"``; with ``estimator``, ``"the estimator's rounding"``:
        the declared accuracy of each (:func:`icl.domain.declared_error`).
    """
    out = {FLOAT32: samples * per_sample}
    if binomial is not None:
        out["binomial sums"] = declared_error(theory.majority_vote_accuracy, binomial)
    if estimator is not None:
        out["the estimator's rounding"] = declared_error(theory.unbiased_pass_at_k, estimator)
    return out


def voted(samples: torch.Tensor, size: int, gen: torch.Generator, whole: bool = False):
    """The votes of groups of ``size`` samples of each prompt.

    Parameters
    ----------
    samples : torch.Tensor
        ``(b, per_prompt, d)``.
    size : int
        Samples per vote; each prompt gives ``per_prompt // size`` votes.
    gen : torch.Generator
        Breaks ties.
    whole : bool
        The whole-vector vote (:func:`icl.techniques.vector_vote`) rather than the
        per-coefficient one (:func:`icl.techniques.sign_vote`).

    Returns
    -------
    torch.Tensor
        ``(b, per_prompt // size, d)``: the winners.
    """
    b, per_prompt, d = samples.shape
    g = per_prompt // size
    vote = techniques.vector_vote if whole else techniques.sign_vote
    return vote(samples[:, : g * size].reshape(b * g, size, d), gen).reshape(b, g, d)


def vector_vote_right(
    samples: torch.Tensor, w: torch.Tensor, size: int, gen: torch.Generator
) -> torch.Tensor:
    """How often the whole-vector vote of ``size`` samples returns ``w``, mean per prompt.

    Parameters
    ----------
    samples : torch.Tensor
        ``(b, per_prompt, d)``.
    w : torch.Tensor
        ``(b, d)``: the prompts' coefficients.
    size : int
        Samples per vote.
    gen : torch.Generator
        Breaks ties.

    Returns
    -------
    torch.Tensor
        ``(b,)``: the fraction of the prompt's ``per_prompt // size`` votes that return ``w``.
    """
    return (voted(samples, size, gen, whole=True) == w.unsqueeze(1)).all(-1).double().mean(1)


def vector_vote_curve(
    samples: torch.Tensor, w: torch.Tensor, grid: Sequence[int], gen: torch.Generator
) -> torch.Tensor:
    """:func:`vector_vote_right` for each ``N`` of ``grid``, in its order, per prompt.

    Parameters
    ----------
    samples : torch.Tensor
        ``(b, per_prompt, d)``.
    w : torch.Tensor
        ``(b, d)``: the prompts' coefficients.
    grid : sequence of int
        Samples per vote.
    gen : torch.Generator
        Breaks ties, drawn from in the order of ``grid``.

    Returns
    -------
    torch.Tensor
        ``(b, len(grid))``.
    """
    return torch.stack([vector_vote_right(samples, w, N, gen) for N in grid], 1)


def best_of_n_right(draws: Draws, ev: Evaluation, n: int) -> torch.Tensor:
    """Whether best-of-``n`` by the smallest in-context loss returns ``w``, mean per prompt.

    Parameters
    ----------
    draws : Draws
        The samples, cut into groups of ``n``.
    ev : Evaluation
        The prompts whose loss scores the samples.
    n : int
        Samples per group.

    Returns
    -------
    torch.Tensor
        ``(b,)``.
    """
    votes, g = draws.groups(n)
    b, d = draws.w.shape
    candidates = votes.to(ev.prompts.X.dtype)
    X, y = ev.prompts.X[:b], ev.prompts.y[:b]
    loss = techniques.in_context_loss(
        candidates, X.repeat_interleave(g, 0), y.repeat_interleave(g, 0)
    )
    selected = techniques.best_of_n(candidates, loss).selected.reshape(b, g, d)
    return (selected == draws.w.unsqueeze(1)).all(-1).double().mean(1)


# --- against the number of samples ---


def greedy_accuracies(
    ev: Evaluation, greedy: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per prompt, the coefficient accuracy and exact recovery of three decoders.

    Parameters
    ----------
    ev : Evaluation
        The prompts.
    greedy : torch.Tensor
        The model's greedy answers, ``(B, d)``.

    Returns
    -------
    dict
        ``"trained model, greedy"``, ``"linear, greedy"`` and ``"Bayes (marginals / MAP)"``
        (the sign of the posterior marginal, and the posterior mode), each a pair of ``(B,)``.
    """
    w, linear = ev.w, ev.linear_greedy()
    return {
        "trained model, greedy": ((greedy == w).double().mean(1), (greedy == w).all(1).double()),
        "linear, greedy": ((linear == w).double().mean(1), (linear == w).all(1).double()),
        "Bayes (marginals / MAP)": (
            (ev.right_marginals(ev.bayes) > 0.5).double().mean(1),
            (ad.mode(ev.bayes) == w).all(1).double(),
        ),
    }


def exact_curves(
    ev: Evaluation, log_probs: torch.Tensor, grid: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact vote and best-of-N accuracies per prompt on a grid of ``N``.

    Parameters
    ----------
    ev : Evaluation
        The prompts and the in-context loss of every answer.
    log_probs : torch.Tensor
        ``(B, 2^d)``: the decoder's answer distribution.
    grid : sequence of int
        The values of ``N``.

    Returns
    -------
    tuple of (torch.Tensor, torch.Tensor)
        ``(B, len(grid))`` each: the per-coefficient vote's coefficient accuracy
        :math:`V_N(q_j)`, and best-of-N's exact recovery :math:`S(L(w))^N - S^+(L(w))^N`.
    """
    q = ev.right_marginals(log_probs)
    vote = torch.stack([theory.majority_vote_accuracy(q, int(N)).mean(1) for N in grid], 1)
    bon = [techniques.best_of_n_accuracy(log_probs, ev.loss, ev.w, int(N)) for N in grid]
    return vote, torch.stack(bon, 1)


def linear_samples(ev: Evaluation, prompts: int, per_prompt: int, seed: int) -> torch.Tensor:
    """Samples of the linear decoder at :math:`T = 1` on the first evaluation prompts.

    Parameters
    ----------
    ev : Evaluation
        The prompts and ``eta``.
    prompts : int
        How many of the first prompts.
    per_prompt : int
        Samples per prompt.
    seed : int
        The seed of the uniforms.

    Returns
    -------
    torch.Tensor
        ``(prompts, per_prompt, d)``: coefficient ``j`` is ``+1`` with probability
        :math:`\\sigma(2\\hat w_j)`, independently.
    """
    X, y = ev.prompts.X[:prompts], ev.prompts.y[:prompts]
    device, d = runtime.device(), X.shape[-1]
    u = torch.rand(
        prompts,
        per_prompt,
        d,
        generator=runtime.generator(seed, device),
        device=device,
        dtype=X.dtype,
    )
    return torch.where(
        u < torch.sigmoid(2 * ad.linear_estimate(X, y, ev.eta)).unsqueeze(1), 1.0, -1.0
    )


VOTE_LIMITS = {
    "coefficient": "vote limit minus greedy, coefficient accuracy",
    "vector": "mode (vote limit) minus greedy, exact recovery",
    "mode-differs": "fraction of prompts whose mode differs from greedy",
}  # the three quantities of vote_limits, by id


def vote_limits(
    ev: Evaluation, log_probs: torch.Tensor, greedy: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The limits of the votes as :math:`N \\to \\infty`, against greedy decoding, per prompt.

    Parameters
    ----------
    ev : Evaluation
        The prompts.
    log_probs : torch.Tensor
        ``(B, 2^d)``: the decoder's answer distribution.
    greedy : torch.Tensor
        ``(B, d)``: the decoder's greedy answers.

    Returns
    -------
    tuple of torch.Tensor
        ``(B,)`` each: the coefficient accuracy of the sign of the marginal minus greedy's (a
        marginal of exactly 1/2 counts half); the exact recovery of the mode minus greedy's; and
        whether the mode differs from greedy.
    """
    q = ev.right_marginals(log_probs)
    coef_limit = ((q > 0.5).double() + 0.5 * (q == 0.5).double()).mean(1)
    mode = ad.mode(log_probs)
    return (
        coef_limit - (greedy == ev.w).double().mean(1),
        (mode == ev.w).all(1).double() - (greedy == ev.w).all(1).double(),
        (mode != greedy).any(1).double(),
    )


def vote_limit_gaps(
    ev: Evaluation, temperature: float, greedy: torch.Tensor
) -> list[tuple[str, str, torch.Tensor]]:
    """The trained model's :func:`vote_limits` at ``temperature``, with ids and statements.

    Parameters
    ----------
    ev : Evaluation
        The prompts and their enumerated margins.
    temperature : float
        The decoding temperature.
    greedy : torch.Tensor
        ``(B, d)``: the model's greedy answers (:func:`greedy_model`).

    Returns
    -------
    list of tuple
        ``(id, statement, per-prompt value)`` for the three quantities of :data:`VOTE_LIMITS`,
        ids ``ch7.vote-limit.<name>.T<temperature>``.
    """
    limits = vote_limits(ev, ev.model_lp(temperature), greedy)
    return [
        (f"ch7.vote-limit.{mid}.T{temperature:g}", f"trained model, T={temperature:g}: {text}", v)
        for (mid, text), v in zip(VOTE_LIMITS.items(), limits, strict=True)
    ]


# --- against the temperature ---


def pass_curves(
    ev: Evaluation, lp_at: Callable[[float], torch.Tensor], temps: np.ndarray, ks: Sequence[int]
) -> torch.Tensor:
    """pass@k per prompt on a temperature grid.

    Parameters
    ----------
    ev : Evaluation
        The prompts.
    lp_at : callable
        ``T -> (B, 2^d)`` log-probabilities.
    temps : numpy.ndarray
        The temperatures.
    ks : sequence of int
        The values of ``k``.

    Returns
    -------
    torch.Tensor
        ``(len(ks), B, len(temps))``: :math:`1 - (1 - P_T(w))^k`.
    """
    p_w = torch.stack([ad.probability_of(lp_at(float(t)), ev.w) for t in temps], 1)
    return torch.stack([techniques.pass_at_k(p_w, k) for k in ks])


def best_temperature(
    curves: torch.Tensor, temps: np.ndarray, resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The temperature maximising the mean over prompts, and its bootstrap SE on :math:`\\log T`.

    Parameters
    ----------
    curves : torch.Tensor
        ``(K, B, len(temps))`` on the CPU.
    temps : numpy.ndarray
        The temperatures.
    resamples : int
        Bootstrap resamples of the prompts.
    seed : int
        The seed of the resampling.

    Returns
    -------
    tuple of numpy.ndarray
        ``(K,)`` each: the best temperature, and the standard deviation of the bootstrap's best
        :math:`\\log T`.
    """
    gen_b = torch.Generator().manual_seed(seed)
    best = temps[curves.mean(1).argmax(-1).numpy()]
    n_prompts = curves.shape[1]
    idx = torch.randint(0, n_prompts, (resamples, n_prompts), generator=gen_b)
    ones = torch.ones(resamples, n_prompts, dtype=curves.dtype)
    weights = torch.zeros(resamples, n_prompts, dtype=curves.dtype).scatter_add_(1, idx, ones)
    boot = temps[torch.einsum("rb,kbt->rkt", weights, curves).argmax(-1).numpy()]
    return best, np.log(boot).std(0, ddof=1)


@dataclass(frozen=True)
class BestTemperature:
    """The temperature maximising one decoder's mean pass@k on the grid.

    Attributes
    ----------
    decoder : str
        ``"trained model"`` or ``"linear"``.
    k : int
        The ``k`` of pass@k.
    temperature : float
        The best temperature of the grid.
    log_se : float
        The bootstrap standard error of its logarithm.
    peak : float
        The mean pass@k over the prompts at that temperature.
    """

    decoder: str
    k: int
    temperature: float
    log_se: float
    peak: float

    @property
    def id(self) -> str:
        """The measurement's id, ``ch7.best-temperature.<model|linear>.k<k>``."""
        short = "model" if self.decoder.startswith("trained") else "linear"
        return f"ch7.best-temperature.{short}.k{self.k}"

    @property
    def statement(self) -> str:
        """What is measured: the log of the best temperature."""
        return f"{self.decoder}: log of the temperature maximising pass@{self.k}"

    @property
    def log_t(self) -> float:
        """:math:`\\log T` of the best temperature."""
        return np.log(self.temperature)


def best_temperatures(
    passes: Mapping[str, torch.Tensor],
    temps: np.ndarray,
    ks: Sequence[int],
    resamples: int,
    seeds: Sequence[int],
) -> tuple[dict[str, np.ndarray], list[BestTemperature]]:
    """:func:`best_temperature` of each decoder's pass@k curves, one seed per decoder.

    Parameters
    ----------
    passes : mapping
        Per decoder, the ``(len(ks), B, len(temps))`` curves of :func:`pass_curves`.
    temps : numpy.ndarray
        The temperatures.
    ks : sequence of int
        The values of ``k``, in the curves' order.
    resamples : int
        Bootstrap resamples of the prompts.
    seeds : sequence of int
        The bootstrap's seeds, in the order of ``passes``.

    Returns
    -------
    tuple of (dict, list of BestTemperature)
        Per decoder, the ``(len(ks),)`` best temperatures; and one :class:`BestTemperature` per
        decoder and ``k``, decoder by decoder.
    """
    best, rows = {}, []
    for (name, pc), seed in zip(passes.items(), seeds, strict=True):
        best[name], log_se = best_temperature(pc.cpu(), temps, resamples, seed)
        for i, (k, t, s) in enumerate(zip(ks, best[name], log_se, strict=True)):
            rows.append(BestTemperature(name, k, t, s, float(pc[i].mean(0).max())))
    return best, rows


def fixed_budget(
    ev: Evaluation, lp_at: Callable[[float], torch.Tensor], temps: np.ndarray, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The vote and best-of-N of a fixed budget of ``n`` samples, per prompt, against ``T``.

    Parameters
    ----------
    ev : Evaluation
        The prompts and the in-context loss of every answer.
    lp_at : callable
        ``T -> (B, 2^d)`` log-probabilities.
    temps : numpy.ndarray
        The temperatures.
    n : int
        Samples.

    Returns
    -------
    tuple of (torch.Tensor, torch.Tensor)
        ``(B, len(temps))`` each: the vote's coefficient accuracy and best-of-``n``'s exact
        recovery.
    """
    vote, bon = [], []
    for t in temps:
        lp = lp_at(float(t))
        vote.append(theory.majority_vote_accuracy(ev.right_marginals(lp), n).mean(1))
        bon.append(techniques.best_of_n_accuracy(lp, ev.loss, ev.w, n))
    return torch.stack(vote, 1), torch.stack(bon, 1)


def budget_optima(
    budget: Mapping[str, tuple[torch.Tensor, torch.Tensor]], temps: np.ndarray
) -> dict[str, tuple[float, float, float, float]]:
    """The grid optima of :func:`fixed_budget`'s curves, averaged over the prompts.

    Parameters
    ----------
    budget : mapping
        Per decoder, the vote's and best-of-N's ``(B, len(temps))`` curves.
    temps : numpy.ndarray
        The temperatures.

    Returns
    -------
    dict
        Per decoder: the vote's best temperature and mean accuracy there, then best-of-N's.
    """
    out = {}
    for name, (vote, bon) in budget.items():
        v, b = vote.mean(0), bon.mean(0)
        out[name] = (
            temps[v.argmax().item()],
            v.max().item(),
            temps[b.argmax().item()],
            b.max().item(),
        )
    return out


# --- the vote's sample complexity ---


def agreement(
    draws: torch.Tensor, q_plus: torch.Tensor, grid: Sequence[int], gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """How often the vote of ``N`` agrees with its limit, against :math:`2\\Delta\\sqrt N`.

    Parameters
    ----------
    draws : torch.Tensor
        ``(b, per_prompt, d)`` samples.
    q_plus : torch.Tensor
        ``(b, d)``: :math:`P_T(v_j = +1)`.
    grid : sequence of int
        The values of ``N``.
    gen : torch.Generator
        Breaks the votes' ties.

    Returns
    -------
    tuple of torch.Tensor
        ``(b, d * len(grid))`` each, flattened over ``N``: :math:`x = 2\\Delta\\sqrt N`, the
        fraction of votes that agree with :math:`\\operatorname{sign}(q_+ - 1/2)`, and
        :math:`V_N(1/2 + \\Delta)`.

    Notes
    -----
    :math:`\\Delta_j = |q_{+,j} - 1/2|`; the central limit theorem gives
    :math:`V_N(1/2 + \\Delta) \\approx \\Phi(2\\Delta\\sqrt N)`.
    """
    xs, hits, exact = [], [], []
    delta = (q_plus - 0.5).abs()
    limit = torch.where(q_plus > 0.5, 1.0, -1.0).to(draws.dtype)
    for N in grid:
        hits.append((voted(draws, N, gen) == limit.unsqueeze(1)).double().mean(1))
        xs.append(2 * delta * np.sqrt(N))
        exact.append(theory.majority_vote_accuracy(0.5 + delta, N))
    return torch.cat(xs, 1), torch.cat(hits, 1), torch.cat(exact, 1)


# --- calibration ---


def bayes_conditional(ev: Evaluation) -> torch.Tensor:
    """The Bayes conditional :math:`P(w_j = +1 \\mid X, y, w_{<j})`, teacher-forced.

    Parameters
    ----------
    ev : Evaluation
        The prompts and their log-posteriors.

    Returns
    -------
    torch.Tensor
        ``(B, d)``.
    """
    w = ev.w
    d = w.shape[-1]
    vectors = ad.sign_vectors(d, device=w.device, dtype=ev.prompts.X.dtype)
    posterior = ev.bayes.exp()
    cond = torch.empty_like(w)
    for j in range(d):
        match = (vectors[:, :j].unsqueeze(0) == w[:, None, :j]).all(-1).double() * posterior
        cond[:, j] = (match * (vectors[:, j] > 0)).sum(1) / match.sum(1)
    return cond


def calibration_predictors(ev: Evaluation, t_cal: float) -> dict[str, torch.Tensor]:
    """Three predictors of :math:`P(w_j = +1)` on the evaluation prompts, by label.

    Parameters
    ----------
    ev : Evaluation
        The prompts, their enumerated margins and log-posteriors.
    t_cal : float
        The linear decoder's calibration temperature.

    Returns
    -------
    dict of str to torch.Tensor
        ``(B, d)`` each, in this order: the trained model teacher-forced,
        :math:`\\sigma(m_j(w_{<j}))`; the calibrated linear decoder,
        :math:`\\sigma(2\\hat w_j / T_{\\text{cal}})`; and the Bayes conditional of
        :func:`bayes_conditional`. The labels are those of the reliability diagram.
    """
    p = ev.prompts
    on_path = ev.margins[torch.arange(len(p.w)), ad.index_of(p.w)]
    return {
        "trained model (teacher-forced)": torch.sigmoid(on_path),
        r"linear, calibrated $\sigma(2\hat w_j/T_{cal})$": torch.sigmoid(
            2 * ad.linear_estimate(p.X, p.y, ev.eta) / t_cal
        ),
        "Bayes conditional": bayes_conditional(ev),
    }


# --- the summary ---


def decoder_gaps(
    decoders: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    limit: tuple[torch.Tensor, torch.Tensor],
) -> list[tuple[str, str, torch.Tensor]]:
    """The paired gaps between the Bayes-optimal, greedy and linear decoders and the vote limit.

    Parameters
    ----------
    decoders : mapping
        :func:`greedy_accuracies`: per prompt, coefficient accuracy and exact recovery.
    limit : tuple of torch.Tensor
        The same for the model's vote limits (the signs of its marginals, and its mode).

    Returns
    -------
    list of tuple
        ``(id, statement, per-prompt gap)``: Bayes minus greedy, greedy minus linear, Bayes
        minus the vote limit, each per coefficient and for the whole vector.
    """
    greedy, linear, bayes = (decoders[k] for k in decoders)
    pairs = [
        (
            "bayes-minus-greedy",
            bayes,
            greedy,
            "Bayes marginal decoder minus trained greedy",
            "MAP minus trained greedy",
        ),
        (
            "greedy-minus-linear",
            greedy,
            linear,
            "trained greedy minus linear greedy sign(w_hat)",
            "trained greedy minus linear greedy",
        ),
        (
            "bayes-minus-vote-limit",
            bayes,
            limit,
            "Bayes marginal decoder minus the model's T=1 vote limit",
            "MAP minus the model's T=1 mode",
        ),
    ]
    gaps = []
    for mid, a, b, coef_text, vec_text in pairs:
        gaps.append((f"{mid}.coefficient", f"{coef_text}, coefficient accuracy", a[0] - b[0]))
        gaps.append((f"{mid}.vector", f"{vec_text}, exact recovery", a[1] - b[1]))
    return gaps


def apart(measurements: Mapping[str, dict], first: str, second: str) -> float:
    """How many standard errors the first measurement lies above the second.

    Parameters
    ----------
    measurements : mapping
        Recorded measurements by id (``estimate`` and ``stderr``).
    first, second : str
        Their ids.

    Returns
    -------
    float

    Notes
    -----
    :math:`(m_1 - m_2) / \\sqrt{s_1^2 + s_2^2}`.
    """
    a, b = measurements[first], measurements[second]
    return (a["estimate"] - b["estimate"]) / np.hypot(a["stderr"], b["stderr"])


def carry_over_table(
    measurements: Mapping[str, dict], best_t: Mapping[str, np.ndarray], independence_z: float
) -> str:
    """The table of what carries over from the linear theory.

    Parameters
    ----------
    measurements : mapping
        The chapter's measurements by id.
    best_t : mapping
        ``"trained model"`` and ``"linear"``: the best temperatures of pass@k.
    independence_z : float
        The z-score of the rejected product of the marginals.

    Returns
    -------
    str
        One row per prediction: the prediction, the verdict and the numbers.
    """

    def fmt(mid: str) -> str:
        m = measurements[f"ch7.{mid}"]
        return f"{m['estimate']:+.3f} ± {m['stderr']:.3f}"

    temps = {name: ", ".join(f"{t:.2f}" for t in best_t[name]) for name in best_t}
    rows = [
        (
            "i.i.d. votes: P(vote = limit) = V_N(1/2 + Delta) ~ Phi(2 Delta sqrt N)",
            "holds (a property of i.i.d. votes)",
            "check ch7.vote-agreement passed",
        ),
        (
            "vote of N -> greedy as N -> infinity",
            "fails: limit = marginal sign / mode",
            f"mode != greedy on {fmt('vote-limit.mode-differs.T1')} of prompts (T=1); mode - "
            f"greedy accuracy {fmt('vote-limit.vector.T1')}",
        ),
        (
            "the vote limit does not depend on T",
            "fails for the whole vector",
            f"mode - greedy: {fmt('vote-limit.vector.T0.5')} (T=0.5), "
            f"{fmt('vote-limit.vector.T4')} (T=4)",
        ),
        (
            "best temperature for pass@k grows with k",
            "holds",
            f"model {temps['trained model']}; linear {temps['linear']}",
        ),
        (
            "coefficients independent given the prompt",
            "fails",
            f"P_T(w) vs product of marginals: {abs(independence_z):.0f} SE apart",
        ),
        (
            "P(v_j=+1) = sigmoid(2 w_hat_j / T_cal), calibrated given w_hat_j",
            "fails: the network is sharper, nearer Bayes",
            f"mean |difference| {fmt('marginal-vs-calibrated-linear')}; Brier calibrated linear - "
            f"model {fmt('brier.calibrated-linear-minus-model')}; model vs Bayes marginal "
            f"{fmt('marginal-vs-bayes')}",
        ),
        (
            "coefficients needing > 41 votes (Delta < 0.1), T=1",
            "fewer for the network",
            f"model {fmt('hard-coefficients.model')}, linear {fmt('hard-coefficients.linear')}",
        ),
        (
            "greedy accuracy vs Bayes (coefficient / vector)",
            "below Bayes, far above linear",
            f"Bayes - greedy {fmt('bayes-minus-greedy.coefficient')} / "
            f"{fmt('bayes-minus-greedy.vector')}; "
            f"greedy - linear {fmt('greedy-minus-linear.coefficient')} / "
            f"{fmt('greedy-minus-linear.vector')}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{p:{width}s} | {v:44s} | {n}" for p, v, n in rows)
