"""References for :mod:`icl.techniques`: scores and averages in exact rational arithmetic
(fractions of the floats), selections and votes by Python loops, probabilities in mpmath at 30
digits (and more where a power of N needs it); the randomised tie-breaks of the votes by exact
tests of their uniformity (see :mod:`tests.accuracy.ref_tasks`)."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import mpmath
import numpy as np
import torch
from scipy import stats

from tests.accuracy import Reference, register
from tests.accuracy.ref_decoders import (
    _floor,
    _log_probs_inputs,
    _random_signs,
    dtype_scale,
    in_units,
)
from tests.accuracy.ref_tasks import Z_UNIT, as_numpy, z_binomial, z_of

# --- scores ---


def _dtype(rng: np.random.Generator) -> torch.dtype:
    return [torch.float32, torch.float64][rng.integers(2)]


def _top(dtype) -> float:
    """The largest magnitude drawn for entries whose squares are summed: squares of up to 64
    entries stay finite."""
    return 1e140 if dtype == torch.float64 else 1e15


def _tensor(rng: np.random.Generator, shape, dtype, scale: float) -> torch.Tensor:
    return torch.from_numpy(scale * rng.standard_normal(shape)).to(dtype)


def _score_inputs(rng: np.random.Generator, with_w: bool = True) -> dict:
    """Candidates (B, N, d) at a scale 10^-150 .. top, and for the oracle w near them (to
    1e-8 relative, so that the differences cancel) or independent."""
    batch, count, d = (int(v) for v in rng.integers(1, [4, 6, 65]))
    dtype = _dtype(rng)
    low = -150 if dtype == torch.float64 else -15
    scale = 10.0 ** rng.uniform(low, math.log10(_top(dtype)))
    candidates = _tensor(rng, (batch, count, d), dtype, scale)
    out = {"candidates": candidates}
    if with_w:
        w = candidates[:, 0] * (1 + 1e-8 * torch.randn(batch, d, dtype=torch.float64).to(dtype))
        out["w"] = w if rng.random() < 0.5 else _tensor(rng, (batch, d), dtype, scale)
    return out


def _exact_sums_of_squares(diffs: list) -> list:
    return [float(sum(Fraction(a) ** 2 for a in row)) for row in diffs]


def _compare_oracle(kwargs: dict, value: torch.Tensor) -> float:
    c, w = kwargs["candidates"], kwargs["w"]
    exact = np.array(
        [
            [
                float(sum((Fraction(a) - Fraction(b)) ** 2 for a, b in zip(row, w[i].tolist())))
                for row in c[i].tolist()
            ]
            for i in range(c.shape[0])
        ]
    )
    if value.dtype != c.dtype:
        return math.inf
    return in_units(as_numpy(value), exact, _score_allowed(exact, c.dtype))


def _score_allowed(exact: np.ndarray, dtype) -> np.ndarray:
    """1e-12 relative (scaled to the dtype), below the dtype's smallest normal number absolute."""
    return np.maximum(1e-12 * dtype_scale(dtype) * exact, _floor(dtype))


register(
    Reference(
        "icl.techniques.oracle_score",
        "exact fractions of the floats",
        compare=_compare_oracle,
        draw=_score_inputs,
    )
)


def _compare_norm(kwargs: dict, value: torch.Tensor) -> float:
    c = kwargs["candidates"]
    exact = np.array([_exact_sums_of_squares(rows) for rows in c.tolist()])
    return in_units(as_numpy(value), exact, _score_allowed(exact, c.dtype))


register(
    Reference(
        "icl.techniques.norm_score",
        "exact fractions of the floats",
        compare=_compare_norm,
        draw=lambda rng: _score_inputs(rng, with_w=False),
    )
)


def _loss_inputs(rng: np.random.Generator) -> dict:
    """Prompts (B, n, d) and candidates at independent scales; y sometimes X w_0 exactly-ish (the
    first candidate nearly interpolates: cancellation)."""
    batch, count, n, d = (int(v) for v in rng.integers(1, [4, 6, 10, 9]))
    dtype = _dtype(rng)
    span = (-40, 40) if dtype == torch.float64 else (-6, 6)
    x_scale, w_scale = (10.0 ** rng.uniform(*span) for _ in range(2))
    X = _tensor(rng, (batch, n, d), dtype, x_scale)
    candidates = _tensor(rng, (batch, count, d), dtype, w_scale)
    y = torch.einsum("bnd,bd->bn", X.double(), candidates[:, 0].double())
    y = (y * (1 + 1e-9 * torch.from_numpy(rng.standard_normal((batch, n))))).to(dtype)
    if rng.random() < 0.5:
        y = _tensor(rng, (batch, n), dtype, x_scale * w_scale)
    return {"candidates": candidates, "X": X, "y": y}


def _compare_loss(kwargs: dict, value: torch.Tensor) -> float:
    c, X, y = kwargs["candidates"], kwargs["X"], kwargs["y"]
    n = X.shape[1]
    exact, scale = [], []
    for b in range(c.shape[0]):
        Xb, yb = X[b].tolist(), y[b].tolist()
        rows_e, rows_s = [], []
        for w in c[b].tolist():
            res = [
                sum(Fraction(x) * Fraction(v) for x, v in zip(Xb[i], w)) - Fraction(yb[i])
                for i in range(n)
            ]
            rows_e.append(float(sum(r * r for r in res) / n))
            rows_s.append(
                sum((sum(abs(x * v) for x, v in zip(Xb[i], w)) + abs(yb[i])) ** 2 for i in range(n))
                / n
            )
        exact.append(rows_e)
        scale.append(rows_s)
    allowed = np.maximum(1e-12 * dtype_scale(c.dtype) * np.array(scale), _floor(c.dtype))
    return in_units(as_numpy(value), np.array(exact), allowed)


register(
    Reference(
        "icl.techniques.in_context_loss",
        "exact fractions of the floats",
        compare=_compare_loss,
        draw=_loss_inputs,
    )
)

# --- selection ---


def _selection_inputs(rng: np.random.Generator) -> dict:
    """Candidates and scores, the scores often tied (small integers)."""
    batch, count, d = (int(v) for v in rng.integers(1, [5, 9, 4]))
    dtype = _dtype(rng)
    scores = (
        rng.integers(0, 3, (batch, count))
        if rng.random() < 0.5
        else rng.standard_normal((batch, count))
    )
    return {
        "candidates": _tensor(rng, (batch, count, d), dtype, 1.0),
        "scores": torch.from_numpy(np.asarray(scores, dtype=float)).to(dtype),
    }


def _first_argmin(row: list) -> int:
    return min(range(len(row)), key=lambda i: (row[i], i))


def _compare_best(kwargs: dict, value) -> float:
    c, scores = kwargs["candidates"], kwargs["scores"]
    index = [_first_argmin(row) for row in scores.tolist()]
    right = value.index.tolist() == index and torch.equal(
        value.selected, c[torch.arange(c.shape[0]), index]
    )
    return 0.0 if right else math.inf


register(
    Reference(
        "icl.techniques.best_of_n",
        "Python loop: the first candidate of smallest score",
        compare=_compare_best,
        draw=_selection_inputs,
    )
)


def _compare_best_values(kwargs: dict, value: torch.Tensor) -> float:
    scores, values = kwargs["scores"].tolist(), kwargs["values"].tolist()
    exact = [
        [row_v[_first_argmin(row_s[: N + 1])] for N in range(len(row_s))]
        for row_s, row_v in zip(scores, values)
    ]
    return 0.0 if value.tolist() == exact else math.inf


register(
    Reference(
        "icl.techniques.best_of_n_values",
        "Python loop: for each N the value at the first argmin of the first N scores",
        compare=_compare_best_values,
        draw=lambda rng: (lambda s: {"scores": s["scores"], "values": s["candidates"][..., 0]})(
            _selection_inputs(rng)
        ),
    )
)


def _averages_inputs(rng: np.random.Generator) -> dict:
    batch, count, d = (
        int(rng.integers(1, 4)),
        int(np.exp(rng.uniform(0, math.log(3000)))),
        int(rng.integers(1, 4)),
    )
    dtype = _dtype(rng)
    top = 300 if dtype == torch.float64 else 34
    scale = 10.0 ** rng.uniform(-top, top)
    answers = _tensor(rng, (batch, count, d), dtype, scale) + scale * 10.0 ** rng.uniform(-3, 3)
    n_avg = sorted({int(v) for v in rng.integers(1, count + 1, size=rng.integers(1, 5))} | {count})
    return {"answers": answers, "n_avg": n_avg}


def _compare_averages(kwargs: dict, value: torch.Tensor) -> float:
    answers, n_avg = kwargs["answers"], kwargs["n_avg"]
    a = answers.double().numpy()
    exact, allowed = [], []
    for N in n_avg:
        block = a[:, :N]
        exact.append(
            [
                [float(sum(Fraction(v) for v in block[b, :, j]) / N) for j in range(a.shape[2])]
                for b in range(a.shape[0])
            ]
        )
        top = np.abs(block).max(1)
        m1 = (np.abs(block) / np.where(top > 0, top, 1.0)[:, None]).mean(1) * top
        allowed.append(1e-12 * dtype_scale(answers.dtype) * m1 * max(1.0, N / 1000))
    exact = np.transpose(np.array(exact), (1, 0, 2))
    allowed = np.transpose(np.array(allowed), (1, 0, 2))
    return in_units(as_numpy(value), exact, allowed)


register(
    Reference(
        "icl.techniques.nested_averages",
        "exact fractions of the floats",
        compare=_compare_averages,
        draw=_averages_inputs,
        cases=(
            {"answers": torch.full((1, 4, 1), 1e300, dtype=torch.float64), "n_avg": [4]},
            {
                "answers": torch.tensor([[[1e16], [1.0], [-1e16], [1.0]]], dtype=torch.float64),
                "n_avg": [1, 2, 4],
            },
        ),
    )
)

# --- votes ---

REPEATS = 2000  # copies of one row, so that a randomised tie-break can be counted


def _vote_rows(rng: np.random.Generator) -> np.ndarray:
    """One row of N codes from a small alphabet (ties common) repeated REPEATS times, or
    independent rows."""
    count, alphabet = int(rng.integers(1, 12)), int(rng.integers(1, 6))
    if rng.random() < 0.6:
        return np.repeat(rng.integers(-3, alphabet, (1, count)), REPEATS, axis=0)
    return rng.integers(-3, alphabet, (int(rng.integers(1, 50)), count))


def _uniform_ties_z(rows: list, winners: list, candidates_of) -> float:
    """|z| of the winners among tied candidates: every winner must be a candidate (else inf);
    for each distinct row with m > 1 candidates, a chi-square of the winners' counts against
    uniform 1/m."""
    groups: dict = {}
    for row, winner in zip(rows, winners):
        allowed = candidates_of(row)
        if winner not in allowed:
            return math.inf
        groups.setdefault(tuple(row), []).append(winner)
    worst = 0.0
    for row, won in groups.items():
        allowed = sorted(candidates_of(list(row)))
        if len(allowed) > 1 and len(won) >= 5 * len(allowed):
            counts = [won.count(a) for a in allowed]
            statistic = sum(
                (c - len(won) / len(allowed)) ** 2 / (len(won) / len(allowed)) for c in counts
            )
            worst = max(worst, z_of(2 * min(stats.chi2.sf(statistic, len(allowed) - 1), 0.5)))
    return worst


def _modes(row: list) -> set:
    counts = Counter(row)
    top = max(counts.values())
    return {code for code, c in counts.items() if c == top}


def _compare_plurality(kwargs: dict, value: torch.Tensor) -> float:
    rows = kwargs["answers"].tolist()
    winners = value.tolist()
    if kwargs.get("ties", "uniform") == "smallest":
        return 0.0 if winners == [min(_modes(r)) for r in rows] else math.inf
    return _uniform_ties_z(rows, winners, _modes) / Z_UNIT


register(
    Reference(
        "icl.techniques.plurality_vote",
        "Python counts: the winner among the modes; uniform ties by a chi-square over copies",
        compare=_compare_plurality,
        draw=lambda rng: {
            "answers": torch.from_numpy(_vote_rows(rng)),
            "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
            "ties": ["uniform", "smallest"][rng.integers(2)],
        },
    )
)


def _sign_samples(rng: np.random.Generator) -> torch.Tensor:
    """(B, N, d) signs; with copies of one prompt (ties counted) or independent prompts."""
    count, d = int(rng.integers(1, 9)), int(rng.integers(1, 5))
    batch = REPEATS if rng.random() < 0.6 else int(rng.integers(1, 30))
    base = _random_signs(rng, (1 if batch == REPEATS else batch, count, d))
    return base.expand(batch, -1, -1).contiguous()


def _compare_sign_vote(kwargs: dict, value: torch.Tensor) -> float:
    total = kwargs["samples"].sum(1)
    decided = total != 0
    if not torch.equal(value[decided], total[decided].sign()) or not bool((value.abs() == 1).all()):
        return math.inf
    ties = value[~decided]
    return z_binomial(int((ties > 0).sum()), ties.numel(), 0.5) / Z_UNIT


register(
    Reference(
        "icl.techniques.sign_vote",
        "the sign of each sum; ties against a fair coin (binomial)",
        compare=_compare_sign_vote,
        draw=lambda rng: {
            "samples": _sign_samples(rng),
            "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
        },
    )
)


def _compare_vector_vote(kwargs: dict, value: torch.Tensor) -> float:
    samples = kwargs["samples"]
    rows = [[tuple(v) for v in prompt] for prompt in samples.tolist()]
    winners = [tuple(v) for v in value.tolist()]
    return _uniform_ties_z(rows, winners, _modes) / Z_UNIT


register(
    Reference(
        "icl.techniques.vector_vote",
        "Python counts of whole vectors; uniform ties by a chi-square over copies",
        compare=_compare_vector_vote,
        draw=lambda rng: {
            "samples": _sign_samples(rng),
            "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
        },
    )
)

# --- pass@k and exact accuracies ---


def _compare_pass(kwargs: dict, value: torch.Tensor) -> float:
    p, k = kwargs["p"], kwargs["k"]
    with mpmath.workdps(40):
        exact = [
            float(-mpmath.expm1(k * mpmath.log1p(-mpmath.mpf(float(q))))) if q < 1 else 1.0
            for q in p.reshape(-1).tolist()
        ]
    exact = torch.tensor(exact, dtype=torch.float64).to(p.dtype).double().numpy().reshape(p.shape)
    if value.dtype != p.dtype or value.shape != p.shape:
        return math.inf
    allowed = np.maximum(1e-14 * dtype_scale(p.dtype) * np.abs(exact), _floor(p.dtype))
    return in_units(as_numpy(value), exact, allowed)


def _pass_inputs(rng: np.random.Generator) -> dict:
    size = int(rng.integers(1, 20))
    p = 10.0 ** rng.uniform(-320, 0, size)
    p[rng.random(size) < 0.2] = 1 - 10.0 ** rng.uniform(-16, -1)
    p[rng.random(size) < 0.05] = 0.0
    p[rng.random(size) < 0.05] = 1.0
    dtype = _dtype(rng)
    return {"p": torch.from_numpy(p).to(dtype), "k": int(np.exp(rng.uniform(0, math.log(1e15))))}


register(
    Reference(
        "icl.techniques.pass_at_k",
        "1 - (1 - p)^k = -expm1(k log1p(-p)) in mpmath at 40 digits",
        compare=_compare_pass,
        draw=_pass_inputs,
        cases=({"p": torch.tensor([1e-300, 1e-20, 0.5, 1.0], dtype=torch.float64), "k": 2**62},),
    )
)


def _accuracy_inputs(rng: np.random.Generator, with_scores: bool) -> dict:
    kwargs = _log_probs_inputs(rng)
    lp = kwargs["log_probs"]
    batch, width = lp.shape
    d = width.bit_length() - 1
    out = {**kwargs, "target": _random_signs(rng, (batch, d)).to(lp.dtype)}
    if with_scores:
        scores = (
            rng.integers(0, 4, (batch, width))
            if rng.random() < 0.5
            else rng.standard_normal((batch, width))
        )
        out["scores"] = torch.from_numpy(np.asarray(scores, dtype=float)).to(lp.dtype)
        out["n_samples"] = int(np.exp(rng.uniform(0, math.log(1e6))))
    return out


def _target_rows(target: torch.Tensor) -> list[int]:
    return [sum(1 << (len(r) - 1 - j) for j, s in enumerate(r) if s < 0) for r in target.tolist()]


def _compare_bon_accuracy(kwargs: dict, value: torch.Tensor) -> float:
    lp, scores, N = kwargs["log_probs"], kwargs["scores"].tolist(), kwargs["n_samples"]
    exact = []
    with mpmath.workdps(60):
        for row_lp, row_s, t in zip(lp.tolist(), scores, _target_rows(kwargs["target"])):
            probs = [mpmath.exp(mpmath.mpf(float(v))) for v in row_lp]
            a = mpmath.fsum(p for p, s in zip(probs, row_s) if s >= row_s[t])
            e = mpmath.fsum(p for p, s in zip(probs, row_s) if s == row_s[t])  # a - b, exactly
            exact.append(float(a**N * -mpmath.expm1(N * mpmath.log1p(-e / a))) if a > 0 else 0.0)
    exact = np.array(exact)
    allowed = np.maximum(1e-9 * exact, 1e-300)
    return in_units(as_numpy(value), exact, allowed)


register(
    Reference(
        "icl.techniques.best_of_n_accuracy",
        "a^N - b^N = a^N (1 - (1 - e / a)^N), a = P(s >= s_t), e = a - b = P(s = s_t) summed "
        "directly, in mpmath at 60 digits",
        compare=_compare_bon_accuracy,
        draw=lambda rng: _accuracy_inputs(rng, with_scores=True),
    )
)


def _compare_vv3(kwargs: dict, value: torch.Tensor) -> float:
    lp = kwargs["log_probs"]
    exact = []
    with mpmath.workdps(40):
        for row_lp, t in zip(lp.tolist(), _target_rows(kwargs["target"])):
            probs = [mpmath.exp(mpmath.mpf(float(v))) for v in row_lp]
            p = probs[t]
            others = [q for i, q in enumerate(probs) if i != t]
            pairs = mpmath.fsum(
                u * v for i, u in enumerate(others) for j, v in enumerate(others) if i != j
            )
            exact.append(float(3 * p**2 - 2 * p**3 + p * pairs))
    exact = np.array(exact)
    allowed = np.maximum(1e-12 * exact, 1e-300)
    return in_units(as_numpy(value), exact, allowed)


register(
    Reference(
        "icl.techniques.vector_vote_accuracy_3",
        "3 p^2 - 2 p^3 + p sum_{u != v} P(u) P(v) in mpmath at 40 digits",
        compare=_compare_vv3,
        draw=lambda rng: _accuracy_inputs(rng, with_scores=False),
    )
)
