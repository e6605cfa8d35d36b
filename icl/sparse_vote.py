"""Experiments that the chapters, the scripts and the benchmark share.

**Chapter 6's sparse vote** (the authors' prototype's case 2). A prompt's task is a support of
:math:`k` ones in :math:`d` coordinates; :func:`run_sparse_vote` draws prompts under a protocol,
decodes each greedily, and samples :math:`S` chains per prompt (:mod:`icl.decoders.sparse_chains`),
whose final answers come out as integer codes; :func:`vote_wins` then says, for each :math:`N`,
whether the plurality vote of the first :math:`N` answers recovers the task
(:func:`icl.techniques.plurality_vote`), and :func:`exact_subset_votes` gives the exact accuracy of
a vote of :math:`N` of the :math:`S` stored answers drawn without replacement
(:func:`icl.theory.subsample_vote_accuracy`). The protocols:

- ``"prototype"``: the prototype's protocol as it was: the same support in every prompt
  (:func:`icl.tasks.prototype_support`), and a vote that breaks ties towards the smallest code,
  as ``scipy.stats.mode`` does;
- ``"book"``: a uniformly random support per prompt, and ties broken uniformly at random.

Chapter 6 runs it at a small scale, ``scripts/ch06_largest_run.py`` at the largest scale run so
far, and :mod:`icl.bench` times :func:`sampled_answer_codes` against a loop over chains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from icl import runtime, tasks, theory
from icl.decoders.sparse_chains import sparse_binary_chains, support_codes
from icl.domain import Accuracy, Choice, Given, Integer, Real, declare
from icl.techniques import _plurality
from icl.validation import (
    MAX_ENTRIES,
    entries,
    integer,
    positive,
    prompt_batch,
    real,
    tensor,
    work,
)
from icl.validation import (
    generator as _generator,
)

PROTOCOLS = {"book": "uniform", "prototype": "smallest"}  # protocol -> the tie rule of its vote


@dataclass(frozen=True)
class SparseVoteSettings:
    r"""The task and the chains of Chapter 6's sparse vote.

    The defaults are the prototype's (its step :math:`1/n` on the undivided gradient is
    ``eta = 1``).

    Parameters
    ----------
    d : int
        The dimension, :math:`\ge 1`.
    n : int
        Examples per prompt, :math:`\ge 1`.
    k : int
        Ones per support, :math:`1 \le k \le d`.
    steps : int
        Steps per chain, :math:`\ge 1`.
    noise_sd : float
        The label noise's standard deviation, :math:`\ge 0`.
    eta : float
        The step size, :math:`> 0` (the gradient divided by :math:`n`).

    Raises
    ------
    ValueError
        A setting out of its range.
    """

    d: int = 50
    n: int = 30
    k: int = 5
    steps: int = 50
    noise_sd: float = 0.01
    eta: float = 1.0

    def __post_init__(self) -> None:
        for name in ("d", "n", "k", "steps"):
            integer(name, getattr(self, name))
        if self.k > self.d:
            raise ValueError(f"k must be <= d = {self.d}, got {self.k}")
        real("noise_sd", self.noise_sd, minimum=0.0)
        positive("eta", self.eta)


@dataclass(frozen=True)
class SparseVoteRun:
    """One protocol's run.

    Parameters
    ----------
    protocol : str
        ``"book"`` or ``"prototype"``.
    prompts : icl.tasks.Prompts
        The sampled prompts.
    codes : torch.Tensor
        Their answers' codes, ``(B, S)``.
    truth : torch.Tensor
        The true codes, ``(B,)``.
    greedy_prompts : icl.tasks.Prompts
        The greedily decoded prompts.
    greedy_final : torch.Tensor
        Their final supports, ``(G, d)``.
    generator : torch.Generator
        The generator, to draw the votes' tie-breaks from next.
    seconds : float
        The seconds the chains took.
    """

    protocol: str
    prompts: tasks.Prompts
    codes: torch.Tensor
    truth: torch.Tensor
    greedy_prompts: tasks.Prompts
    greedy_final: torch.Tensor
    generator: torch.Generator
    seconds: float

    def greedy_right(self) -> torch.Tensor:
        """Whether greedy decoding recovered the task, per greedy prompt.

        Returns
        -------
        torch.Tensor
            1 or 0, float64 ``(G,)``.
        """
        return (self.greedy_final == self.greedy_prompts.w).all(-1).to(torch.float64)

    def single_sample_right(self) -> torch.Tensor:
        """The fraction of a prompt's :math:`S` sampled answers that recover its task.

        Returns
        -------
        torch.Tensor
            The fractions, float64 ``(B,)``.
        """
        return (self.codes == self.truth[:, None]).to(torch.float64).mean(1)


def _settings(settings) -> SparseVoteSettings:
    if not isinstance(settings, SparseVoteSettings):
        raise TypeError(f"settings must be a SparseVoteSettings, got {type(settings).__name__}")
    return settings


def _codes(name: str, codes, ndim: int) -> torch.Tensor:
    return tensor(name, codes, ndim=ndim, kind="integer")


SETTINGS = Given("a SparseVoteSettings", bad=("x",))


@declare(
    Accuracy(
        exact=False,
        note="prototype: w = prototype_support(d, k) in every row; book: a uniform k-subset per "
        "prompt (sample_weights); then x ~ N(0, I_d), y = <w, x> + noise_sd eps exactly as "
        "sample_prompts_for_tasks draws them",
    ),
    protocol=Choice(tuple(PROTOCOLS)),
    batch=Integer(1, MAX_ENTRIES),
    generator=Given("a torch.Generator (its device is the prompts')", bad=(0,)),
    settings=SETTINGS,
)
def draw_sparse_prompts(
    protocol: str,
    batch: int,
    generator: torch.Generator,
    settings: SparseVoteSettings = SparseVoteSettings(),
) -> tasks.Prompts:
    r"""Draw prompts of a protocol.

    Parameters
    ----------
    protocol : {"book", "prototype"}
        The prototype's fixed support, or a uniformly random support per prompt.
    batch : int
        The number of prompts, :math:`B`.
    generator : torch.Generator
        The source of the draws; the prompts are on its device (in its default dtype).
    settings : SparseVoteSettings
        The task: :math:`d`, :math:`n`, :math:`k` and the noise.

    Returns
    -------
    icl.tasks.Prompts
        The prompts.

    Raises
    ------
    ValueError
        More than :math:`2^{27}` entries (:math:`B (n + 1) d`).
    TypeError
        ``settings`` not a :class:`SparseVoteSettings`.

    Notes
    -----
    :math:`x \sim \mathcal{N}(0, I_d)` and :math:`y = \langle w, x \rangle + \sigma \varepsilon`,
    :math:`\sigma` the ``noise_sd``.
    """
    s, dev = _settings(settings), _generator("generator", generator).device
    entries("batch * (n + 1) * d", batch * (s.n + 1) * s.d)
    if protocol == "prototype":
        w = tasks.prototype_support(s.d, s.k).to(dev, runtime.dtype(dev)).expand(batch, -1)
        return tasks.sample_prompts_for_tasks(w, s.n, sigma2=s.noise_sd**2, generator=generator)
    return tasks.sample_prompts(
        batch,
        s.n,
        s.d,
        prior="sparse-binary",
        k=s.k,
        sigma2=s.noise_sd**2,
        generator=generator,
        device=dev,
        dtype=runtime.dtype(dev),
    )


@declare(
    Accuracy(
        exact=False,
        note="the codes (support_codes) of the final supports of independent sampled chains, "
        "exactly as sparse_binary_chains draws them, chunk prompts at a time",
    ),
    X=Given("float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite, d <= 62"),
    y=Given("float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite, d <= 62"),
    k=Integer(1),
    eta=Real(0.0, open_low=True),
    steps=Integer(1, 10**6),
    samples=Integer(1),
    generator=Given("a torch.Generator on X's device", bad=(0,)),
    chunk=Given("None (all prompts at once) or an integer >= 1", bad=(0, 1.5)),
)
def sampled_answer_codes(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    k: int,
    eta: float,
    steps: int,
    samples: int,
    generator: torch.Generator,
    chunk: int | None = None,
) -> torch.Tensor:
    r"""The codes of the final answers of sampled chains.

    Parameters
    ----------
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``, :math:`d \le 62` (the codes hold 62 bits).
    y : torch.Tensor
        Their labels, ``(B, n)``.
    k : int
        Ones per support.
    eta : float
        The step size, :math:`> 0`.
    steps : int
        Steps per chain.
    samples : int
        Chains per prompt, :math:`S`.
    generator : torch.Generator
        On ``X``'s device.
    chunk : int, optional
        Prompts run at a time (all at once by default), which bounds memory.

    Returns
    -------
    torch.Tensor
        The codes, ``(B, samples)``.

    Raises
    ------
    ValueError
        More than :math:`2^{27}` entries of chains per chunk (:math:`\mathrm{chunk} \cdot S d`),
        more than :math:`2^{40}` multiply-adds in all (:math:`T B S d^2`), :math:`d > 62`.

    Notes
    -----
    The chains are :func:`icl.decoders.sparse_chains.sparse_binary_chains`. The chunk size changes
    the order of the draws, so with one seed different chunk sizes give different (equally
    distributed) answers.
    """
    batch, _, d = prompt_batch(X, y)
    chunk = batch if chunk is None else integer("chunk", chunk)
    _generator("generator", generator, device=X.device)
    if d > 62:
        raise ValueError(f"X must have d <= 62 coordinates for the codes, got d = {d}")
    entries("chunk * samples * d", min(chunk, batch) * samples * d)
    work("steps * B * samples * d^2", steps * batch * samples * d * d)
    return torch.cat(
        [
            support_codes(
                sparse_binary_chains(
                    X[i : i + chunk],
                    y[i : i + chunk],
                    k=k,
                    eta=eta,
                    steps=steps,
                    n_chains=samples,
                    generator=generator,
                )
            )
            for i in range(0, batch, chunk)
        ]
    )


@declare(
    Accuracy(
        exact=False,
        note="draw_sparse_prompts, then greedy chains and sampled_answer_codes, all from one "
        "generator seeded by seed (the law of each piece as declared there)",
    ),
    protocol=Choice(tuple(PROTOCOLS)),
    prompts=Integer(1, MAX_ENTRIES),
    samples=Integer(1),
    seed=Integer(0),
    settings=SETTINGS,
    greedy_prompts=Given("None (the sampled prompts) or an integer >= 1", bad=(0, 1.5)),
    chunk=Given("None (all prompts at once) or an integer >= 1", bad=(0, 1.5)),
)
def run_sparse_vote(
    protocol: str,
    prompts: int,
    samples: int,
    seed: int,
    *,
    settings: SparseVoteSettings = SparseVoteSettings(),
    greedy_prompts: int | None = None,
    chunk: int | None = None,
) -> SparseVoteRun:
    """Run a protocol: draw prompts and sampled chains on each, and decode greedily (module
    docstring).

    Parameters
    ----------
    protocol : {"book", "prototype"}
        The protocol.
    prompts : int
        Sampled prompts, :math:`B`.
    samples : int
        Sampled chains per prompt, :math:`S`.
    seed : int
        Seeds the one generator all draws come from.
    settings : SparseVoteSettings
        The task and the chains.
    greedy_prompts : int, optional
        Greedy decoding runs on that many prompts of its own, drawn first (it is cheap, so it can
        have more); by default it runs on the sampled prompts.
    chunk : int, optional
        Prompts whose chains run at a time (:func:`sampled_answer_codes`).

    Returns
    -------
    SparseVoteRun
        The prompts, the codes, the greedy answers, the generator and the seconds taken.
    """
    s = _settings(settings)
    if greedy_prompts is not None:
        integer("greedy_prompts", greedy_prompts)
    if chunk is not None:
        integer("chunk", chunk)
    timer = runtime.Timer()
    gen = runtime.generator(seed, runtime.device())
    own_greedy = (
        None if greedy_prompts is None else draw_sparse_prompts(protocol, greedy_prompts, gen, s)
    )
    p = draw_sparse_prompts(protocol, prompts, gen, s)
    pg = p if own_greedy is None else own_greedy
    greedy_final = sparse_binary_chains(pg.X, pg.y, k=s.k, eta=s.eta, steps=s.steps, greedy=True)[
        :, 0
    ]
    codes = sampled_answer_codes(
        p.X, p.y, k=s.k, eta=s.eta, steps=s.steps, samples=samples, generator=gen, chunk=chunk
    )
    return SparseVoteRun(
        protocol, p, codes, support_codes(p.w), pg, greedy_final, gen, timer.seconds()
    )


@declare(
    Accuracy(
        exact=False,
        note="1 exactly where the truth is the only most frequent of the first N codes, 0 where "
        "it is not among them; on a tie 'smallest' picks the smallest code, 'uniform' each tied "
        "code with probability 1/m (plurality_vote)",
    ),
    codes=Given("integer tensor (B, S), none of B, S zero"),
    truth=Given("integer tensor (B,)"),
    n_votes=Given("a non-empty list of integers in [1, S]", bad=([], [0], "x")),
    ties=Choice(("uniform", "smallest")),
    generator=Given("a torch.Generator on the codes' device", bad=(0,)),
)
def vote_wins(
    codes: torch.Tensor,
    truth: torch.Tensor,
    n_votes: list[int],
    ties: str,
    generator: torch.Generator,
) -> dict[int, torch.Tensor]:
    """Whether the plurality vote of the first :math:`N` answers is the truth, for each :math:`N`.

    Parameters
    ----------
    codes : torch.Tensor
        The answers' codes, integer ``(B, S)``.
    truth : torch.Tensor
        The true codes, integer ``(B,)``.
    n_votes : list of int
        The vote sizes :math:`N`, in :math:`[1, S]`.
    ties : {"uniform", "smallest"}
        How ties are broken.
    generator : torch.Generator
        On the codes' device; uniform tie-breaks are drawn from it in the order of ``n_votes``.

    Returns
    -------
    dict of int to torch.Tensor
        For each :math:`N` in ``n_votes``, 1 or 0 per prompt, float64 ``(B,)``.

    Raises
    ------
    ValueError
        An empty ``n_votes`` or an entry outside :math:`[1, S]`; shapes that do not match.
    """
    codes = _codes("codes", codes, 2)
    tensor("truth", truth, shape=(codes.shape[0],), kind="integer")
    if not isinstance(n_votes, list | tuple) or not n_votes:
        raise ValueError(f"n_votes must be a non-empty list of vote sizes, got {n_votes!r}")
    for N in n_votes:
        integer("n_votes entry", N, maximum=codes.shape[1])
    _generator("generator", generator, required=ties == "uniform", device=codes.device)
    return {
        N: (_plurality(codes[:, :N], generator, ties) == truth).to(torch.float64) for N in n_votes
    }


@declare(
    Accuracy(relative=1e-15, note="exact: integer counts"),
    codes=Given("integer tensor (S,), S >= 1"),
    true_code=Given("integer tensor of no dimension"),
)
def answer_counts(
    codes: torch.Tensor, true_code: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """One prompt's stored answers, counted.

    Parameters
    ----------
    codes : torch.Tensor
        The answers' codes, integer ``(S,)``.
    true_code : torch.Tensor
        The true code, an integer tensor of no dimension.

    Returns
    -------
    values : numpy.ndarray
        The distinct codes, in increasing order.
    counts : numpy.ndarray
        Their counts.
    correct : int or None
        The index of the true code among them, ``None`` when no answer is right.
    """
    codes = _codes("codes", codes, 1)
    tensor("true_code", true_code, ndim=0, kind="integer")
    return _answer_counts(codes, true_code)


def _answer_counts(codes: torch.Tensor, true_code: torch.Tensor):
    values, counts = torch.unique(codes, return_counts=True)
    where = (values == true_code).nonzero()
    return values.cpu().numpy(), counts.cpu().numpy(), (int(where[0, 0]) if len(where) else None)


@declare(
    Accuracy(
        absolute=1e-10,
        note="icl.theory.subsample_vote_accuracy per prompt: an exact multivariate "
        "hypergeometric sum, its tail truncated at 1e-12",
    ),
    codes=Given("integer tensor (B, S), none of B, S zero"),
    truth=Given("integer tensor (B,)"),
    n_votes=Integer(1),
    ties=Choice(("uniform", "smallest", "lose")),
)
def exact_subset_votes(
    codes: torch.Tensor, truth: torch.Tensor, n_votes: int, ties: str
) -> np.ndarray:
    """Per prompt, the exact probability that a vote of ``n_votes`` of its stored answers, drawn
    without replacement, recovers the task.

    Parameters
    ----------
    codes : torch.Tensor
        The answers' codes, integer ``(B, S)``.
    truth : torch.Tensor
        The true codes, integer ``(B,)``.
    n_votes : int
        The vote size :math:`N`, in :math:`[1, S]`.
    ties : {"uniform", "smallest", "lose"}
        How ties are broken.

    Returns
    -------
    numpy.ndarray
        The probabilities, ``(B,)``; 0 where no stored answer is right.

    Notes
    -----
    Each is :func:`icl.theory.subsample_vote_accuracy` of the prompt's answer counts. Its mean over
    prompts is an unbiased estimate of the expected accuracy of a vote of :math:`N` fresh chains.
    """
    codes = _codes("codes", codes, 2)
    tensor("truth", truth, shape=(codes.shape[0],), kind="integer")
    n_votes = integer("n_votes", n_votes, maximum=codes.shape[1])
    out = np.zeros(len(codes))
    for b in range(len(codes)):
        values, counts, correct = _answer_counts(codes[b], truth[b])
        if correct is not None:
            out[b] = theory.subsample_vote_accuracy(
                counts,
                n_votes,
                correct=correct,
                ties=ties,
                codes=values if ties == "smallest" else None,
            )
    return out
