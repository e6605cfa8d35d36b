r"""Test-time techniques: how several decoded answers of one prompt become one answer, or a success.

**One convention for selection.** A verifier gives each candidate a *score*, a loss: lower is
better. Best-of-N keeps the candidate of smallest score (:func:`best_of_n`). The scores:

- :func:`oracle_score`: :math:`\lVert w - w^* \rVert^2`, the true parameter error (an ideal
  verifier);
- :func:`in_context_loss`: :math:`\lVert X w - y \rVert^2 / n`, the mean squared error on the
  prompt's own examples (self-verification, no access to :math:`w^*`);
- :func:`norm_score`: :math:`\lVert w \rVert^2`, the authors' prototype's choice (misspecified).

Aggregation of :math:`N` answers per prompt (candidates ``(B, N, d)``, :math:`B` prompts):

- averaging: the mean of the :math:`N` answers; :func:`nested_averages` for every :math:`N` of a
  list at once;
- votes: :func:`plurality_vote` (the most frequent of :math:`N` integer codes, ties uniform or to
  the smallest code), :func:`sign_vote` (per coefficient of :math:`\pm 1` answers),
  :func:`vector_vote` (the most frequent whole vector);
- best-of-N: :func:`best_of_n`, and :func:`best_of_n_values` for every :math:`N \le N_{\max}` at
  once;
- pass@k, whether some of :math:`k` answers is right: :func:`pass_at_k` gives it exactly from the
  probability :math:`p` of one right answer, :math:`1 - (1 - p)^k`; :func:`unbiased_pass_at_k`
  (the closed form of :mod:`icl.theory`) estimates it without bias from :math:`n \ge k` samples of
  which :math:`c` are right.

Exact accuracies given an answer distribution over :math:`\{-1, +1\}^d`
(:mod:`icl.decoders.answer_distribution`, a table ``log_probs (B, 2^d)``):
:func:`best_of_n_accuracy`, :func:`vector_vote_accuracy_3`; the per-coefficient vote's
:math:`V_N(q)` is :func:`icl.theory.majority_vote_accuracy` and the plurality vote's
:func:`icl.theory.plurality_vote_accuracy`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from icl.decoders.answer_distribution import _dimension, _index_of
from icl.domain import Accuracy, Choice, Given, Integer, declare
from icl.theory import (
    unbiased_pass_at_k as unbiased_pass_at_k,
)  # re-exported: the estimator of pass@k
from icl.validation import (
    entries,
    integer,
    probabilities,
    prompt_batch,
    same_dtype,
    signs,
    tensor,
)
from icl.validation import (
    generator as _generator,
)

VOTE_TIES = ("uniform", "smallest")
FLOAT32 = "float32 inputs: 2^29 times larger, the ratio of the epsilons"
CANDIDATES = Given("float32 or float64 tensor (B, N, d), finite, none of B, N, d zero")
SCORE_ACCURACY = Accuracy(
    relative=1e-12,
    absolute=1e-300,
    note="a sum of d squares (each difference rounded once) in the inputs' dtype; below the "
    f"dtype's smallest normal number absolute; {FLOAT32} (absolute: 1e-37); a score that "
    "overflows the dtype is refused",
)
EXACT = Accuracy(relative=1e-15, note="exact: entries selected or copied, no arithmetic")


def _candidates(candidates: torch.Tensor, name: str = "candidates") -> torch.Tensor:
    """Float candidates ``(B, N, d)``, finite, none of B, N, d zero."""
    return tensor(name, candidates, ndim=3)


def _finite(scores: torch.Tensor, what: str) -> torch.Tensor:
    """``scores``, or ``ValueError`` where they overflowed the dtype."""
    low, high = torch.aminmax(scores)
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        raise ValueError(f"{what} overflows {scores.dtype}: the inputs are too large for it")
    return scores


# --- verifiers' scores (lower is better) ---


@declare(
    SCORE_ACCURACY,
    candidates=CANDIDATES,
    w=Given("tensor (B, d) of the candidates' dtype, finite"),
)
def oracle_score(candidates: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    r"""The oracle verifier's score: each candidate's squared distance to the true parameter.

    Parameters
    ----------
    candidates : torch.Tensor
        Float32 or float64 candidates ``(B, N, d)``: ``N`` answers to each of ``B`` prompts.
    w : torch.Tensor
        The true parameters :math:`w^*`, ``(B, d)``, of the candidates' dtype.

    Returns
    -------
    torch.Tensor
        The scores, ``(B, N)``.

    Raises
    ------
    ValueError
        A score that overflows the dtype.

    Notes
    -----
    :math:`s_k = \lVert w_k - w^* \rVert^2`.
    """
    candidates = _candidates(candidates)
    tensor("w", w, shape=(candidates.shape[0], candidates.shape[2]))
    same_dtype(candidates=candidates, w=w)
    return _finite(((candidates - w.unsqueeze(1)) ** 2).sum(-1), "||w_k - w*||^2")


@declare(
    Accuracy(
        relative=1e-12,
        note="relative to sum_i (|x_i . w_k|_abs + |y_i|)^2 / n, with |x_i . w_k|_abs = "
        "sum_j |x_ij w_kj|: the scale of the terms that cancel in X w - y; below the dtype's "
        f"smallest normal number absolute; {FLOAT32}; a loss that overflows the dtype is "
        "refused",
    ),
    candidates=CANDIDATES,
    X=Given("tensors X (B, n, d) and y (B, n) of the candidates' dtype, finite"),
    y=Given("tensors X (B, n, d) and y (B, n) of the candidates' dtype, finite"),
)
def in_context_loss(candidates: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Self-verification: each candidate's mean squared error on the prompt's own examples.

    Parameters
    ----------
    candidates : torch.Tensor
        Float32 or float64 candidates ``(B, N, d)``: ``N`` answers to each of ``B`` prompts.
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``, of the candidates' dtype.
    y : torch.Tensor
        The prompts' labels, ``(B, n)``.

    Returns
    -------
    torch.Tensor
        The losses, ``(B, N)``.

    Raises
    ------
    ValueError
        Shapes that do not match, more than :math:`2^{27}` residuals (:math:`B N n`), or a loss
        that overflows the dtype.

    Notes
    -----
    .. math::

        s_k = \frac1n \lVert X w_k - y \rVert^2
            = (w_k - w_{LS})^\top S (w_k - w_{LS}) + \min_w \frac1n \lVert X w - y \rVert^2,
        \qquad S = X^\top X / n.
    """
    candidates = _candidates(candidates)
    batch, count, d = candidates.shape
    n = prompt_batch(X, y)[1]
    if X.shape[0] != batch or X.shape[2] != d:
        raise ValueError(
            f"expected X (B={batch}, n, d={d}) and y (B, n), "
            f"got {tuple(X.shape)} and {tuple(y.shape)}"
        )
    same_dtype(candidates=candidates, X=X)
    entries("B * N * n", batch * count * n)
    residual = candidates @ X.transpose(1, 2) - y.unsqueeze(1)
    return _finite((residual**2).mean(-1), "||X w_k - y||^2 / n")


@declare(SCORE_ACCURACY, candidates=CANDIDATES)
def norm_score(candidates: torch.Tensor) -> torch.Tensor:
    r"""The authors' prototype's score: each candidate's squared norm.

    Parameters
    ----------
    candidates : torch.Tensor
        Float32 or float64 candidates ``(B, N, d)``: ``N`` answers to each of ``B`` prompts.

    Returns
    -------
    torch.Tensor
        The scores :math:`\lVert w_k \rVert^2`, ``(B, N)``.

    Raises
    ------
    ValueError
        A score that overflows the dtype.
    """
    return _finite((_candidates(candidates) ** 2).sum(-1), "||w_k||^2")


# --- best-of-N ---


class Selection(NamedTuple):
    """What :func:`best_of_n` returns: the kept candidates ``selected (B, d)`` and their
    indices ``index (B,)``."""

    selected: torch.Tensor
    index: torch.Tensor


@declare(
    EXACT,
    candidates=CANDIDATES,
    scores=Given("tensor (B, N) of the candidates' dtype, finite"),
)
def best_of_n(candidates: torch.Tensor, scores: torch.Tensor) -> Selection:
    r"""Best-of-N: each prompt's candidate of smallest score (the first of equal scores).

    Parameters
    ----------
    candidates : torch.Tensor
        Float32 or float64 candidates ``(B, N, d)``: ``N`` answers to each of ``B`` prompts.
    scores : torch.Tensor
        Their scores, ``(B, N)``, of the candidates' dtype (lower is better).

    Returns
    -------
    Selection
        ``selected (B, d)`` and ``index (B,)``.

    Notes
    -----
    :math:`\hat k = \operatorname{argmin}_k s_k`, the first of equal minima.
    """
    candidates = _candidates(candidates)
    tensor("scores", scores, shape=tuple(candidates.shape[:2]))
    same_dtype(candidates=candidates, scores=scores)
    index = scores.argmin(1)
    return Selection(
        candidates[torch.arange(candidates.shape[0], device=candidates.device), index], index
    )


@declare(
    EXACT,
    scores=Given("float32 or float64 tensor (B, N_max), finite"),
    values=Given("float32 or float64 tensor (B, N_max), finite"),
)
def best_of_n_values(scores: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    r"""``values`` of the best-of-N candidate for every :math:`N = 1, \dots, N_{\max}`, from one
    draw of :math:`N_{\max}` candidates.

    Parameters
    ----------
    scores : torch.Tensor
        Float32 or float64 scores ``(B, N_max)`` of each candidate.
    values : torch.Tensor
        Float32 or float64 values ``(B, N_max)`` of each candidate (e.g. its true risk).

    Returns
    -------
    torch.Tensor
        ``(B, N_max)``: entry ``[b, N - 1]`` is the value of the best of the first :math:`N`.

    Notes
    -----
    .. math::

        r_{b, N} = v_{b, k^*}, \qquad k^* = \operatorname{argmin}_{k < N} s_{b, k},

    the first of equal scores (as :func:`best_of_n`).
    """
    tensor("scores", scores, ndim=2)
    tensor("values", values, shape=tuple(scores.shape))
    running = torch.cummin(scores, dim=1).values
    before = torch.cat([torch.full_like(running[:, :1], math.inf), running[:, :-1]], 1)
    positions = torch.arange(scores.shape[1], device=scores.device).expand_as(scores)
    index = torch.where(scores < before, positions, 0).cummax(1).values  # first of equal minima
    return values.gather(1, index)


# --- averaging ---


@declare(
    Accuracy(
        relative=1e-12,
        note="relative to the mean of |answers| over the first N, times N / 1000 where N > 1000 "
        f"(a running sum rounds once per answer); {FLOAT32}; sums that overflow are refused",
    ),
    answers=Given("float32 or float64 tensor (B, N_max, d), finite, none of B, N_max, d zero"),
    n_avg=Given("a non-empty list of integers in [1, N_max]", bad=([], [0], "x")),
)
def nested_averages(answers: torch.Tensor, n_avg: list[int]) -> torch.Tensor:
    r"""The average of the first :math:`N` answers of each prompt, for each :math:`N` in ``n_avg``.

    Parameters
    ----------
    answers : torch.Tensor
        Float32 or float64 answers ``(B, N_max, d)`` with ``N_max >= max(n_avg)``.
    n_avg : list of int
        The answer counts :math:`N`, each in ``[1, N_max]``.

    Returns
    -------
    torch.Tensor
        The averages, ``(B, len(n_avg), d)``.

    Raises
    ------
    ValueError
        An empty ``n_avg``, more answers asked for than given, or sums that overflow.

    Notes
    -----
    :math:`\bar a_N = \frac1N \sum_{i \le N} a_i`. As in the authors' prototype, the averages are
    nested (running sums over one sequence of answers), so the averages of :math:`N` and of
    :math:`N' > N` answers share their first :math:`N` answers.
    """
    answers = _candidates(answers, "answers")
    if not isinstance(n_avg, list | tuple) or not n_avg:
        raise ValueError(f"n_avg must be a non-empty list of answer counts, got {n_avg!r}")
    counts = [integer("n_avg entry", n) for n in n_avg]
    if max(counts) > answers.shape[1]:
        raise ValueError(
            f"n_avg asks for {max(counts)} answers, but only {answers.shape[1]} are given"
        )
    sums = _finite(answers.cumsum(1)[:, [n - 1 for n in counts]], "the running sum of answers")
    return sums / torch.tensor(counts, device=sums.device, dtype=sums.dtype)[:, None]


# --- votes ---


@declare(
    Accuracy(
        exact=False,
        note="the winner has the largest count exactly; ties='smallest': the smallest such code; "
        "ties='uniform': each tied code with probability 1/m (an independent U(0, 1) key in "
        "float64 per code; equal keys, of probability below 2^-50, go to the smallest)",
    ),
    answers=Given("integer tensor (B, N), none of B, N zero"),
    generator=Given("a torch.Generator on the answers' device (required for uniform ties)"),
    ties=Choice(VOTE_TIES),
)
def plurality_vote(
    answers: torch.Tensor, generator: torch.Generator | None = None, *, ties: str = "uniform"
) -> torch.Tensor:
    r"""The most frequent answer of each row of ``answers`` (integer codes).

    Parameters
    ----------
    answers : torch.Tensor
        Integer codes ``(B, N)``.
    generator : torch.Generator, optional
        On the answers' device; required for ``ties="uniform"``.
    ties : {"uniform", "smallest"}
        How ties among the answers with the top count are broken:

        - ``"uniform"``: each distinct answer of a row gets its count plus an independent
          :math:`U(0, 1)` key and the largest key wins, so each tied answer is chosen with equal
          probability (draws from ``generator``);
        - ``"smallest"``: the smallest code wins, deterministically, as ``scipy.stats.mode``
          (the authors' prototype's vote) and ``torch.mode`` do.

    Returns
    -------
    torch.Tensor
        The winning code of each row, ``(B,)``.
    """
    tensor("answers", answers, ndim=2, kind="integer")
    _generator("generator", generator, required=ties == "uniform", device=answers.device)
    return _plurality(answers, generator, ties)


def _plurality(answers: torch.Tensor, generator: torch.Generator | None, ties: str) -> torch.Tensor:
    """:func:`plurality_vote` on checked arguments."""
    ordered = answers.sort(dim=1).values
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run = starts.cumsum(1) - 1
    counts = torch.zeros(ordered.shape, device=answers.device, dtype=torch.float64)
    counts.scatter_add_(1, run, torch.ones_like(counts))
    if ties == "uniform":
        counts += torch.rand(
            counts.shape, generator=generator, device=answers.device, dtype=torch.float64
        )
    winner = counts.argmax(
        1, keepdim=True
    )  # runs are in increasing order: the first maximum is the smallest code
    first = (run == winner).to(torch.int8).argmax(1, keepdim=True)
    return ordered.gather(1, first).squeeze(1)


def _signs(samples: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Samples ``(B, N, d)`` of +-1 (N >= 1: a vote over nothing is refused) and a generator."""
    signs("samples", samples, ndim=3)
    _generator("generator", generator, device=samples.device)
    return samples


SIGN_SAMPLES = Given("float32 or float64 tensor (B, N, d) of -1 and +1, none of B, N, d zero")


@declare(
    Accuracy(
        exact=False,
        note="the sign of each coefficient's sum exactly; a fair coin (U(0, 1) < 1/2) on a tie",
    ),
    samples=SIGN_SAMPLES,
    generator=Given("a torch.Generator on the samples' device"),
)
def sign_vote(samples: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    r"""Per-coefficient majority vote of :math:`\pm 1` samples, ties broken by a fair coin.

    Parameters
    ----------
    samples : torch.Tensor
        Float32 or float64 samples ``(B, N, d)`` of :math:`-1` and :math:`+1`.
    generator : torch.Generator
        On the samples' device, for the coins.

    Returns
    -------
    torch.Tensor
        The vote, ``(B, d)``.

    Notes
    -----
    :math:`\hat w_j = \operatorname{sign} \sum_{i=1}^N w_{ij}`, a fair coin where the sum is 0.
    """
    total = _signs(samples, generator).sum(1)
    coin = torch.where(
        torch.rand(total.shape, generator=generator, device=total.device) < 0.5, 1.0, -1.0
    )
    return torch.where(total == 0, coin.to(total.dtype), total.sign())


@declare(
    Accuracy(
        exact=False,
        note="a most frequent vector exactly; ties uniform among the most frequent (as "
        "plurality_vote's uniform ties)",
    ),
    samples=Given("float32 or float64 tensor (B, N, d) of -1 and +1, d <= 62, none zero"),
    generator=Given("a torch.Generator on the samples' device"),
)
def vector_vote(samples: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    r"""Whole-vector vote: the most frequent of the :math:`N` answers of each prompt, ties broken
    uniformly at random among the most frequent.

    Parameters
    ----------
    samples : torch.Tensor
        Float32 or float64 samples ``(B, N, d)`` of :math:`\pm 1`, :math:`d \le 62`.
    generator : torch.Generator
        On the samples' device, for the ties.

    Returns
    -------
    torch.Tensor
        The winning vectors, ``(B, d)``.

    Raises
    ------
    ValueError
        :math:`d > 62`.

    Notes
    -----
    The answers are coded by :func:`icl.decoders.answer_distribution.index_of` and voted on by
    :func:`plurality_vote`; a sample bearing the winning code is returned.
    """
    _signs(samples, generator)
    if samples.shape[-1] > 62:
        raise ValueError(f"samples must have d <= 62 coordinates, got d = {samples.shape[-1]}")
    codes = _index_of(samples)  # (B, N)
    winner = _plurality(codes, generator, "uniform")
    first = (codes == winner.unsqueeze(1)).to(torch.int8).argmax(1)
    return samples[torch.arange(samples.shape[0], device=samples.device), first]


# --- pass@k ---


@declare(
    Accuracy(
        relative=1e-14,
        absolute=1e-300,
        note="-expm1(k log1p(-p)) in float64, rounded to p's dtype (float32: relative 6e-8); "
        "below 1e-300 absolute",
    ),
    p=Given("float32 or float64 tensor of probabilities in [0, 1], finite"),
    k=Integer(1),
)
def pass_at_k(p: torch.Tensor, k: int) -> torch.Tensor:
    r"""pass@k: the probability that some of :math:`k` i.i.d. answers is right.

    Parameters
    ----------
    p : torch.Tensor
        Float32 or float64 probabilities of one right answer, in :math:`[0, 1]` (elementwise).
    k : int
        Number of answers, :math:`k \ge 1`.

    Returns
    -------
    torch.Tensor
        pass@k, of ``p``'s shape and dtype.

    Notes
    -----
    :math:`\mathrm{pass@}k = 1 - (1 - p)^k`, computed as
    :math:`-\operatorname{expm1}(k \operatorname{log1p}(-p))`.
    """
    tensor("p", p)
    probabilities("p", p, normalised=False)
    return -torch.expm1(k * torch.log1p(-p.double().clamp(max=1.0))).to(p.dtype)


# --- exact accuracies given an answer distribution ---


@declare(
    Accuracy(
        relative=1e-9,
        absolute=1e-300,
        note="a^N (-expm1(N log1p(-e / a))) in float64 with a = P(s >= s_target) and e = "
        "P(s = s_target) (sums of positive terms, no cancellation): N rounding errors at "
        "most, so within 1e-9 for N <= 10^6; below 1e-300 absolute",
    ),
    log_probs=Given(
        "float32 or float64 tensor (B, 2^d), d >= 1, of log-probabilities (logsumexp 0)"
    ),
    scores=Given("tensor (B, 2^d) of the log-probabilities' dtype, finite"),
    target=Given("tensor (B, d) of -1 and +1"),
    n_samples=Integer(1, 10**6),
)
def best_of_n_accuracy(
    log_probs: torch.Tensor, scores: torch.Tensor, target: torch.Tensor, n_samples: int
) -> torch.Tensor:
    r"""The probability that best-of-N returns ``target``, per prompt, exactly.

    Parameters
    ----------
    log_probs : torch.Tensor
        The sampler: float32 or float64 log-probabilities ``(B, 2^d)`` of every vector of
        :math:`\{-1, +1\}^d`, :math:`d \ge 1` (logsumexp 0).
    scores : torch.Tensor
        The score of every vector, ``(B, 2^d)``, of the log-probabilities' dtype.
    target : torch.Tensor
        The target vectors, ``(B, d)`` of :math:`\pm 1`.
    n_samples : int
        :math:`N`, the number of samples.

    Returns
    -------
    torch.Tensor
        The probabilities, ``(B,)``.

    Notes
    -----
    Best-of-N keeps the smallest score (module docstring), so it returns the target when no
    sample scores below it and some sample scores as it does (with distinct scores, when the
    target is drawn):

    .. math::

        P = P(s \ge s_{\rm target})^N - P(s > s_{\rm target})^N
          = a^N \bigl(1 - (1 - e/a)^N\bigr),

    with :math:`a = P(s \ge s_{\rm target})` and :math:`e = P(s = s_{\rm target})`, the second
    form computed so that nothing cancels.
    """
    d = _dimension(log_probs)
    tensor("scores", scores, shape=tuple(log_probs.shape))
    signs("target", target, shape=(log_probs.shape[0], d))
    probs = log_probs.double().exp()
    s_target = scores.gather(1, _index_of(target).unsqueeze(1))
    at_least = (probs * (scores >= s_target)).sum(1)
    equal = (probs * (scores == s_target)).sum(1)
    share = torch.where(at_least > 0, equal / at_least, 0.0)  # 0 where the target has P = 0
    first = torch.exp(n_samples * torch.log(at_least))
    return first * -torch.expm1(n_samples * torch.log1p(-share))


@declare(
    Accuracy(
        relative=1e-12,
        absolute=1e-300,
        note="3 p^2 - 2 p^3 + p c with c = sum over ordered pairs of distinct other vectors of "
        "P(u) P(v), summed as 2 sum_u P(u) (P of the vectors before u): positive terms only, "
        "no cancellation; below 1e-300 absolute",
    ),
    log_probs=Given(
        "float32 or float64 tensor (B, 2^d), d >= 1, of log-probabilities (logsumexp 0)"
    ),
    target=Given("tensor (B, d) of -1 and +1"),
)
def vector_vote_accuracy_3(log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""The probability that the whole-vector vote of 3 i.i.d. samples returns ``target``, per
    prompt.

    Parameters
    ----------
    log_probs : torch.Tensor
        Float32 or float64 log-probabilities ``(B, 2^d)`` of every vector, :math:`d \ge 1`
        (logsumexp 0).
    target : torch.Tensor
        The target vectors, ``(B, d)`` of :math:`\pm 1`.

    Returns
    -------
    torch.Tensor
        The probabilities, ``(B,)``.

    Notes
    -----
    With :math:`p = P(\text{target})`: at least two samples equal the target
    (:math:`3p^2 - 2p^3`), or exactly one does and the other two are distinct non-targets, a
    three-way tie won with probability 1/3, :math:`3 p c / 3 = p c`:

    .. math::

        P = 3p^2 - 2p^3 + p c, \qquad c = \sum_{u \ne v,\ u, v \ne \text{target}} P(u) P(v),

    where :math:`c` equals :math:`(1 - p)^2 - (S_2 - p^2)`, :math:`S_2 = \sum_v P(v)^2`, without
    its cancellation.
    """
    d = _dimension(log_probs)
    signs("target", target, shape=(log_probs.shape[0], d))
    probs = log_probs.double().exp()
    index = _index_of(target).unsqueeze(1)
    p = probs.gather(1, index).squeeze(1).clamp(max=1.0)
    others = probs.scatter(1, index, 0.0)
    # P of the vectors before each one: sums of positive terms
    before = torch.cat([torch.zeros_like(others[:, :1]), others.cumsum(1)[:, :-1]], 1)
    pairs = 2 * (others * before).sum(1)
    return p * p * (3 - 2 * p) + p * pairs
