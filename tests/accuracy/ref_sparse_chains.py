"""References for :mod:`icl.theory.sparse_chains`: the set probability by brute-force enumeration
of the k! orders of drawing without replacement in exact rational arithmetic, and the step by
exact rational arithmetic on the float entries."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import torch

from tests.accuracy import Reference, register

NAME = "icl.theory.sparse_chains."


def _set_probability_exact(weights, support) -> np.ndarray:
    """Sum over the orders s_1..s_k of the support of prod_i w_{s_i} / (W - w_{s_1} - ... -
    w_{s_{i-1}}), each weight an exact rational; rounded once to a float (an underflow to 0
    below the float range is within the absolute floor)."""
    W = np.asarray(weights, dtype=float)
    S = np.asarray(support)
    flat_w, flat_s = W.reshape(-1, W.shape[-1]), S.reshape(-1, S.shape[-1])
    out = []
    for row, chosen in zip(flat_w, flat_s):
        exact = [Fraction(float(v)) for v in row]
        total = sum(exact, Fraction(0))
        probability = Fraction(0)
        for order in itertools.permutations(chosen.tolist()):
            term, rest = Fraction(1), total
            for index in order:
                term *= exact[index] / rest
                rest -= exact[index]
            probability += term
        out.append(_to_float(probability))
    return np.array(out).reshape(S.shape[:-1])


def _to_float(value: Fraction) -> float:
    """A non-negative rational as the nearest float, 0 below 1e-320 (float(Fraction) raises
    nothing but a huge numerator and denominator are slow to divide: compare the logs first)."""
    if value == 0:
        return 0.0
    log10 = math.log10(value.numerator) - math.log10(value.denominator)
    return 0.0 if log10 < -320 else float(value)


def _set_draw(rng):
    """Weights over 1e-300..1e300 (some zero, some subnormal, the issue's 1e20 against 1) and
    supports of 1..6 indices, float64 or float32 weights."""
    d = int(rng.integers(1, 9))
    k = int(rng.integers(1, min(d, 6) + 1))
    kind = rng.random()
    if kind < 0.3:
        w = 10.0 ** rng.uniform(-300, 300, d)
    elif kind < 0.6:
        w = rng.random(d)
    else:
        w = 10.0 ** rng.uniform(-20, 20, d)
    if rng.random() < 0.3 and d > k:  # zero weights, leaving k positive ones
        zeros = rng.choice(d, size=int(rng.integers(1, d - k + 1)), replace=False)
        w[zeros] = 0.0
    if rng.random() < 0.1 and d > k:
        w[rng.integers(d)] = 5e-324  # a subnormal weight
    if (w > 0).sum() < k:
        w[:k] = 1.0
    support = rng.choice(d, size=k, replace=False)
    return {
        "weights": torch.tensor(w[None], dtype=torch.float64),
        "support": torch.tensor(support[None]),
    }


register(
    Reference(
        NAME + "draw_set_probability",
        "sum over the k! orders of drawing without replacement, in exact rational arithmetic",
        exact=lambda weights, support: _set_probability_exact(
            weights.double().numpy(), support.numpy()
        ),
        draw=_set_draw,
        cases=(
            {  # the issue's: 1e20 against 1 (was inf), exact 1/2
                "weights": torch.tensor([[1e20, 1.0, 1.0]], dtype=torch.float64),
                "support": torch.tensor([[0, 1]]),
            },
            {  # a zero weight in the support (was NaN), exact 0
                "weights": torch.tensor([[1e20, 0.0, 1.0]], dtype=torch.float64),
                "support": torch.tensor([[0, 1]]),
            },
            {  # float64 weights whose draws make 1 - p_1 cancel
                "weights": torch.tensor([[1e6, 1.0, 1.0]], dtype=torch.float64),
                "support": torch.tensor([[0, 1]]),
            },
            {
                "weights": torch.tensor([[1e-300, 2e-300, 3.0, 1e300, 5.0]], dtype=torch.float64),
                "support": torch.tensor([[0, 1, 4]]),
            },
            {
                "weights": torch.tensor([[0.4, 0.3, 0.2, 0.1, 0.05, 0.05]], dtype=torch.float64),
                "support": torch.tensor([[5, 0, 3, 1, 2]]),
            },
        ),
    )
)


def _step_exact(X, y, w, eta, clip):
    """clip(w - eta X^T (X w - y) / n, clip) in exact rationals, with the scale
    |w| + eta |X|^T (|X| |w| + |y|) / n of the declared accuracy."""
    X, y, w = (np.asarray(v, dtype=float) for v in (X, y, w))
    B, n, d = X.shape
    rows = w.reshape(B, -1, d)
    out, scale = np.zeros(rows.shape), np.zeros(rows.shape)
    for b in range(B):
        Xf = [[Fraction(float(v)) for v in row] for row in X[b]]
        yf = [Fraction(float(v)) for v in y[b]]
        for r, wr in enumerate(rows[b]):
            wf = [Fraction(float(v)) for v in wr]
            residual = [
                sum((Xf[i][j] * wf[j] for j in range(d)), Fraction(0)) - yf[i] for i in range(n)
            ]
            size = [sum((abs(Xf[i][j] * wf[j]) for j in range(d)), abs(yf[i])) for i in range(n)]
            for j in range(d):
                grad = sum((Xf[i][j] * residual[i] for i in range(n)), Fraction(0)) / n
                value = wf[j] - Fraction(eta) * grad
                out[b, r, j] = max(float(value), clip)
                scale[b, r, j] = float(
                    abs(wf[j])
                    + Fraction(eta)
                    * sum((abs(Xf[i][j]) * size[i] for i in range(n)), Fraction(0))
                    / n
                )
    return out.reshape(w.shape), scale.reshape(w.shape)


def _step_compare(kwargs, value) -> float:
    exact, scale = _step_exact(
        kwargs["X"].numpy(),
        kwargs["y"].numpy(),
        kwargs["w"].numpy(),
        kwargs["eta"],
        kwargs["clip"],
    )
    gap = np.abs(value.double().numpy() - exact)
    allowed = 1e-10 * np.maximum(scale, np.abs(exact))
    return float(np.max(np.where(gap == 0, 0.0, gap / np.where(allowed > 0, allowed, 1.0))))


def _step_draw(rng):
    B = int(rng.integers(1, 3))
    n, d = int(rng.choice([1, 3, 30, 200])), int(rng.integers(1, 9))
    scale = 10.0 ** rng.uniform(-30, 30)
    X = rng.standard_normal((B, n, d)) * scale
    w = (rng.random((B, int(rng.integers(1, 3)), d)) < 0.4).astype(float)
    if rng.random() < 0.3:
        w = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-10, 10)
    y = np.einsum("bnd,bd->bn", X, (rng.random((B, d)) < 0.4).astype(float))
    y = y + rng.standard_normal((B, n)) * scale * 10.0 ** rng.uniform(-6, 0)
    eta = float(10.0 ** rng.uniform(-6, 1) / max(scale**2, 1e-300))
    return {
        "X": torch.tensor(X, dtype=torch.float64),
        "y": torch.tensor(y, dtype=torch.float64),
        "w": torch.tensor(w, dtype=torch.float64),
        "eta": min(eta, 1e60),
        "clip": float(10.0 ** rng.uniform(-300, 0)),
    }


register(
    Reference(
        NAME + "step_weights",
        "the step in exact rational arithmetic on the float entries",
        compare=_step_compare,
        draw=_step_draw,
    )
)
