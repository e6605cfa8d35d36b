"""References for :mod:`icl.sparse_vote`: the prompts against their exact laws, the answers' codes
against the law of the final support enumerated step by step (:mod:`tests.accuracy.ref_decoders`),
votes by Python counts, and the exact subset votes by brute force over every N-subset in exact
fractions."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction

import numpy as np
import torch

from icl import sparse_vote, tasks
from tests.accuracy import Reference, register
from tests.accuracy.ref_decoders import chain_law, greedy_finals, z_counts
from tests.accuracy.ref_tasks import Z_UNIT, as_numpy, labels_error, prior_error, z_normal


def _settings(rng: np.random.Generator) -> sparse_vote.SparseVoteSettings:
    """Small settings (d <= 5, at most 3 steps) whose laws can be enumerated."""
    d = int(rng.integers(1, 6))
    return sparse_vote.SparseVoteSettings(
        d=d,
        n=int(rng.integers(1, 9)),
        k=int(rng.integers(1, d + 1)),
        steps=int(rng.integers(1, 4)),
        noise_sd=float(10.0 ** rng.uniform(-6, 0)) if rng.random() < 0.8 else 0.0,
        eta=float(10.0 ** rng.uniform(-2, 0.5)),
    )


def _prompts_error(protocol: str, settings, p: tasks.Prompts) -> float:
    s = settings
    if protocol == "prototype":
        task = 0.0 if bool((p.w == tasks.prototype_support(s.d, s.k).to(p.w)).all()) else math.inf
    else:
        task = prior_error(p.w, "sparse-binary", None, s.k)
    X = torch.cat([p.X, p.x_query.unsqueeze(1)], 1)
    y = torch.cat([p.y, p.y_query.unsqueeze(1)], 1)
    return max(task, z_normal(as_numpy(X)) / Z_UNIT, labels_error(X, p.w, y, s.noise_sd**2))


register(
    Reference(
        "icl.sparse_vote.draw_sparse_prompts",
        "exact tests: the task (fixed or a uniform k-subset), X ~ N(0, 1), y - X w ~ N(0, sd^2)",
        compare=lambda kwargs, p: _prompts_error(kwargs["protocol"], kwargs["settings"], p),
        draw=lambda rng: {
            "protocol": ["book", "prototype"][rng.integers(2)],
            "batch": int(np.exp(rng.uniform(0, math.log(500)))),
            "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
            "settings": _settings(rng),
        },
    )
)


def _codes_law_error(X, y, codes, k, eta, steps) -> float:
    """The codes of each prompt's chains against the enumerated law of the final support."""
    worst = 0.0
    d = X.shape[2]
    for b in range(X.shape[0]):
        law = {
            sum(1 << j for j in s): p
            for s, p in chain_law(as_numpy(X[b]), as_numpy(y[b]), k, eta, steps, 1e-10).items()
        }
        worst = max(worst, z_counts(Counter(codes[b].tolist()), law, codes.shape[1]))
    return worst / Z_UNIT if d else worst


def _codes_inputs(rng: np.random.Generator) -> dict:
    s = _settings(rng)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    p = sparse_vote.draw_sparse_prompts("book", int(rng.integers(1, 4)), gen, s)
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    return {
        "X": p.X.to(dtype),
        "y": p.y.to(dtype),
        "k": s.k,
        "eta": s.eta,
        "steps": s.steps,
        "samples": 2000,
        "generator": gen,
        "chunk": None if rng.random() < 0.5 else int(rng.integers(1, 3)),
    }


register(
    Reference(
        "icl.sparse_vote.sampled_answer_codes",
        "chi-square of each prompt's codes against the final support's law, enumerated",
        compare=lambda kw, codes: (
            math.inf
            if tuple(codes.shape) != (kw["X"].shape[0], kw["samples"])
            else _codes_law_error(kw["X"], kw["y"], codes, kw["k"], kw["eta"], kw["steps"])
        ),
        draw=_codes_inputs,
    )
)


def _compare_run(kwargs: dict, run) -> float:
    s, protocol = kwargs.get("settings", sparse_vote.SparseVoteSettings()), kwargs["protocol"]
    if run.codes.shape != (kwargs["prompts"], kwargs["samples"]):
        return math.inf
    truth = [sum(1 << j for j in np.flatnonzero(row)) for row in as_numpy(run.prompts.w)]
    if run.truth.tolist() != truth:
        return math.inf
    tol = 64 * torch.finfo(run.prompts.X.dtype).eps * max(1.0, s.eta)
    for b in range(run.greedy_prompts.X.shape[0]):
        X, y = as_numpy(run.greedy_prompts.X[b]), as_numpy(run.greedy_prompts.y[b])
        final = frozenset(np.flatnonzero(as_numpy(run.greedy_final[b])).tolist())
        if final not in greedy_finals(
            X, y, s.k, s.eta, s.steps, 1e-10, tol * max(1.0, float(np.abs(X).max()) ** 2)
        ):
            return math.inf
    prompts = max(
        _prompts_error(protocol, s, run.prompts),
        _prompts_error(protocol, s, run.greedy_prompts),
    )
    law = _codes_law_error(run.prompts.X, run.prompts.y, run.codes, s.k, s.eta, s.steps)
    return max(prompts, law)


register(
    Reference(
        "icl.sparse_vote.run_sparse_vote",
        "its prompts, greedy answers (every tie-resolution) and sampled codes, each against its "
        "exact law",
        compare=_compare_run,
        draw=lambda rng: {
            "protocol": ["book", "prototype"][rng.integers(2)],
            "prompts": int(rng.integers(1, 4)),
            "samples": 2000,
            "seed": int(rng.integers(2**62)),
            "settings": _settings(rng),
            "greedy_prompts": None if rng.random() < 0.5 else int(rng.integers(1, 20)),
            "chunk": None if rng.random() < 0.5 else int(rng.integers(1, 3)),
        },
    )
)


def _votes_inputs(rng: np.random.Generator) -> dict:
    """Codes from a small alphabet (ties common), rows repeated so that uniform ties are
    counted; the truth a code of the row or not."""
    S, alphabet = int(rng.integers(1, 10)), int(rng.integers(1, 5))
    row = rng.integers(0, alphabet, (1, S))
    codes = (
        np.repeat(row, 1000, axis=0) if rng.random() < 0.6 else rng.integers(0, alphabet, (50, S))
    )
    truth = rng.integers(0, alphabet + 1, codes.shape[0])
    n_votes = sorted({int(v) for v in rng.integers(1, S + 1, size=rng.integers(1, 4))})
    return {
        "codes": torch.from_numpy(codes),
        "truth": torch.from_numpy(truth),
        "n_votes": n_votes,
        "ties": ["uniform", "smallest"][rng.integers(2)],
        "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
    }


def _modes(row) -> set:
    counts = Counter(row)
    top = max(counts.values())
    return {c for c, n in counts.items() if n == top}


def _compare_wins(kwargs: dict, wins: dict) -> float:
    codes, truth = kwargs["codes"].tolist(), kwargs["truth"].tolist()
    if sorted(wins) != sorted(kwargs["n_votes"]):
        return math.inf
    worst = 0.0
    for N, won in wins.items():
        won = won.tolist()
        mean, var, total = 0.0, 0.0, 0.0
        for row, t, w in zip(codes, truth, won):
            modes = _modes(row[:N])
            if kwargs["ties"] == "smallest" or len(modes) == 1 or t not in modes:
                right = (
                    float(t == min(modes)) if kwargs["ties"] == "smallest" else float(modes == {t})
                )
                if w != right:
                    return math.inf
                continue
            q = 1 / len(modes)
            mean, var, total = mean + q, var + q * (1 - q), total + w
        if var > 0:
            worst = max(worst, abs(total - mean) / math.sqrt(var))
    return worst / Z_UNIT


register(
    Reference(
        "icl.sparse_vote.vote_wins",
        "Python counts; uniform ties: the wins against their exact mean and variance (z)",
        compare=_compare_wins,
        draw=_votes_inputs,
    )
)


def _compare_counts(kwargs: dict, value) -> float:
    codes, true_code = kwargs["codes"].tolist(), int(kwargs["true_code"])
    counts = sorted(Counter(codes).items())
    values, numbers, where = value
    right = list(values) == [c for c, _ in counts] and list(numbers) == [n for _, n in counts]
    expected = next((i for i, (c, _) in enumerate(counts) if c == true_code), None)
    return 0.0 if right and where == expected else math.inf


register(
    Reference(
        "icl.sparse_vote.answer_counts",
        "collections.Counter",
        compare=_compare_counts,
        draw=lambda rng: {
            "codes": torch.from_numpy(rng.integers(-5, 5, int(rng.integers(1, 40)))),
            "true_code": torch.tensor(int(rng.integers(-6, 6))),
        },
    )
)


def _subset_vote(codes: list, truth: int, N: int, ties: str) -> Fraction:
    """P(the vote of a uniformly random N-subset of the stored answers is the truth), by brute
    force over every N-subset, in exact fractions."""
    won, total = Fraction(0), 0
    for subset in itertools.combinations(range(len(codes)), N):
        modes = _modes([codes[i] for i in subset])
        total += 1
        if truth in modes:
            if ties == "uniform":
                won += Fraction(1, len(modes))
            elif ties == "smallest":
                won += truth == min(modes)
            else:
                won += len(modes) == 1
    return won / total


def _compare_subsets(kwargs: dict, value: np.ndarray) -> float:
    codes, truth = kwargs["codes"].tolist(), kwargs["truth"].tolist()
    N, ties = kwargs["n_votes"], kwargs["ties"]
    exact = [float(_subset_vote(row, t, N, ties)) for row, t in zip(codes, truth)]
    gap = np.abs(np.asarray(value, float) - np.array(exact))
    return float(gap.max()) / 1e-10 if np.all(np.isfinite(gap)) else math.inf


def _subset_inputs(rng: np.random.Generator) -> dict:
    S, alphabet, batch = int(rng.integers(1, 13)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    codes = rng.integers(0, alphabet, (batch, S))
    return {
        "codes": torch.from_numpy(codes),
        "truth": torch.from_numpy(rng.integers(0, alphabet + 1, batch)),
        "n_votes": int(rng.integers(1, S + 1)),
        "ties": ["uniform", "smallest", "lose"][rng.integers(3)],
    }


register(
    Reference(
        "icl.sparse_vote.exact_subset_votes",
        "every N-subset of the stored answers enumerated, in exact fractions",
        compare=_compare_subsets,
        draw=_subset_inputs,
    )
)
