"""References for :mod:`icl.theory.per_prompt`.

- ``conditional_chain_terms``: both terms are quadratic forms, without constant or linear part,
  in the Gaussian (w, noise) given X, so their expectation is the sum of the form at the columns
  of a square root of the covariance: w = psi e_i (with noise 0, i = 1..d) and noise = sigma e_k
  (w = 0, k = 1..n). At each column, :func:`icl.theory.chain_risk_terms` (every step, torch,
  float64) gives ||m_t - w||^2 and tr C_t given (X, y, w): d + n evaluations of another code.
- ``mixture_vote_accuracy``: each binomial tail summed in exact rational arithmetic
  (``fractions``) from the probabilities as given (float -> Fraction, exact), for N up to 61;
  beyond, scipy's binomial law at each N.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import torch
from scipy import stats

from icl import theory
from tests.accuracy import Reference, register

NAME = "icl.theory.per_prompt."


def _terms_exact(X, sigma2, eta, level, steps, psi2=1.0):
    X = torch.as_tensor(np.asarray(X, dtype=float))
    *batch, n, d = X.shape
    X = X.reshape(-1, n, d)
    prompts = X.shape[0]
    columns = []  # (w, y) for each column of the square root of Cov(w, noise)
    for i in range(d):
        w = torch.zeros(prompts, d, dtype=X.dtype)
        w[:, i] = math.sqrt(psi2)
        columns.append((w, (X @ w.unsqueeze(-1))[..., 0]))
    for k in range(n):
        y = torch.zeros(prompts, n, dtype=X.dtype)
        y[:, k] = math.sqrt(sigma2)
        columns.append((torch.zeros(prompts, d, dtype=X.dtype), y))
    w = torch.cat([c[0] for c in columns])
    y = torch.cat([c[1] for c in columns])
    bias, trace = theory.chain_risk_terms(
        X.repeat(len(columns), 1, 1), y, w, eta=eta, steps=steps, level=level, every_step=True
    )
    shape = (len(columns), prompts, steps + 1)
    bias2 = bias.reshape(shape).sum(0).numpy().reshape(*batch, steps + 1)
    spread = trace.reshape(shape).sum(0).numpy().reshape(*batch, steps + 1)
    return bias2, spread


def _terms_draw(rng):
    """Designs of a few prompts, a step and a noise level at which the chains converge on them
    (eta (s_max + level^2) <= 1.9 and eta level^2 (d + 1) <= 1), steps up to 10^5 log-uniform."""
    for _ in range(20):
        n, d = (int(v) for v in rng.integers(1, 10, size=2))
        X = rng.standard_normal((int(rng.integers(1, 4)), n, d)) * 10.0 ** rng.uniform(-1, 0.5)
        s_max = float(np.linalg.eigvalsh(np.swapaxes(X, -1, -2) @ X / n).max())
        level = 10.0 ** rng.uniform(-3, 1)
        top = min(1.9 / (s_max + level**2), 1 / (level**2 * (d + 1)), 10.0)
        if top < 1e-6:
            continue
        kwargs = dict(
            X=X,
            sigma2=float(rng.choice([0.0, 10.0 ** rng.uniform(-6, 3)])),
            eta=float(10.0 ** rng.uniform(math.log10(max(1e-6, top / 1e4)), math.log10(top))),
            level=level,
            steps=int(10.0 ** rng.uniform(0, 5) // len(X) // (n + d)),
            psi2=float(10.0 ** rng.uniform(-6, 6)),
        )
        try:
            theory.conditional_chain_terms(**kwargs)
        except ValueError:
            continue
        return kwargs
    return dict(X=np.ones((1, 2, 2)), sigma2=0.5, eta=0.1, level=0.5, steps=10)


register(
    Reference(
        f"{NAME}conditional_chain_terms",
        "sum over the columns of a square root of Cov(w, noise) of chain_risk_terms (every step)",
        exact=lambda **kw: np.concatenate([np.ravel(v) for v in _terms_exact(**kw)]),
        draw=_terms_draw,
        cases=(
            dict(
                X=np.random.default_rng(0).standard_normal((3, 8, 5)),
                sigma2=0.5,
                eta=0.1,
                level=0.5,
                steps=200,
            ),
            # d > n: zero eigenvalues (b_t = psi2 on them at every t)
            dict(
                X=np.random.default_rng(1).standard_normal((2, 3, 6)),
                sigma2=0.0,
                eta=0.3,
                level=0.1,
                steps=500,
                psi2=2.0,
            ),
        ),
    )
)


def _vote_exact(p, weights, n_samples):
    counts = np.atleast_1d(n_samples)
    out = []
    for N in (int(v) for v in counts):
        total = 0.0
        for pi, wi in zip(np.asarray(p, float), np.asarray(weights, float), strict=True):
            if N <= 61:
                q = Fraction(float(pi))
                tail = sum(
                    math.comb(N, k) * q**k * (1 - q) ** (N - k) for k in range(N // 2 + 1, N + 1)
                )
                if N % 2 == 0:
                    tail += Fraction(1, 2) * math.comb(N, N // 2) * (q * (1 - q)) ** (N // 2)
                total += float(wi) * float(tail)
            else:
                tail = stats.binom.sf(N // 2, N, pi)
                if N % 2 == 0:
                    tail += 0.5 * stats.binom.pmf(N // 2, N, pi)
                total += float(wi) * float(tail)
        out.append(total)
    return out[0] if np.ndim(n_samples) == 0 else np.array(out)


def _vote_draw(rng):
    k = int(rng.integers(1, 6))
    p = rng.uniform(0, 1, k)
    p[rng.random(k) < 0.2] = rng.choice([0.0, 0.5, 1.0, 1e-12, 1 - 1e-9])
    weights = rng.dirichlet(np.ones(k))
    small = rng.integers(1, 62, size=int(rng.integers(1, 4)))
    counts = small if rng.random() < 0.7 else np.array([int(10 ** rng.uniform(2, 6))])
    n_samples = int(counts[0]) if rng.random() < 0.4 else np.sort(counts)
    return dict(p=p, weights=weights / weights.sum(), n_samples=n_samples)


register(
    Reference(
        f"{NAME}mixture_vote_accuracy",
        "binomial tails in exact rational arithmetic for N <= 61, scipy's binomial law beyond",
        exact=_vote_exact,
        draw=_vote_draw,
        cases=(
            # Chen et al. (2024): 0.650, 0.676, 0.678, 0.665, 0.617 at N = 1, 3, 5, 9, 31
            dict(
                p=np.array([0.85, 0.35]),
                weights=np.array([0.6, 0.4]),
                n_samples=np.array([1, 3, 5, 9, 31]),
            ),
            dict(p=np.array([0.5, 1.0, 0.0]), weights=np.array([0.2, 0.5, 0.3]), n_samples=4),
        ),
    )
)


def _exhaustive_optimum(bias2, trace, budget) -> float:
    """The least mean risk over every integer choice (N_i, T_i) within the budget, by enumeration
    in exact rational arithmetic (tiny menus only)."""
    M, width = bias2.shape
    total = math.floor(M * budget)
    menus = []
    for i in range(M):
        menu = [(0, Fraction(bias2[i, 0]))]
        for T in range(1, min(width - 1, total) + 1):
            for N in range(1, total // T + 1):
                menu.append((N * T, Fraction(bias2[i, T]) + Fraction(trace[i, T]) / N))
        menus.append(menu)
    best = None
    for pick in itertools.product(*menus):
        if sum(c for c, _ in pick) <= total:
            value = sum(r for _, r in pick) / M
            best = value if best is None else min(best, value)
    return best


def _allocation_compare(kwargs, value) -> float:
    bias2 = np.asarray(kwargs["bias2"], float)
    trace = np.asarray(kwargs["trace"], float)
    budget = float(kwargs["budget"])
    rows = np.arange(len(bias2))
    n, t = np.asarray(value.n_chains), np.asarray(value.steps)
    chosen = [
        Fraction(bias2[i, 0])
        if t[i] == 0
        else Fraction(bias2[i, t[i]]) + Fraction(trace[i, t[i]]) / int(n[i])
        for i in rows
    ]
    risk = sum(chosen) / len(rows)
    spent = Fraction(int((n * t).sum()), len(rows))
    exact = _exhaustive_optimum(bias2, trace, budget)
    ok = (
        spent <= Fraction(budget)
        and value.spent == float(spent)
        and abs(value.risk - float(risk)) <= 1e-12 * float(risk)
        and value.lower_bound <= float(exact) * (1 + 1e-12)
        and float(exact) <= value.risk * (1 + 1e-12)
        and np.all((n == 0) == (t == 0))
    )
    return 0.0 if ok else math.inf


def _allocation_draw(rng):
    M, width = int(rng.integers(1, 4)), int(rng.integers(2, 5))
    scale = 10.0 ** rng.uniform(-3, 3)
    bias2 = np.sort(rng.uniform(0, 1, (M, width)), axis=1)[:, ::-1] * scale
    if rng.random() < 0.3:  # a bias that falls and rises again (early stopping pays)
        bias2[:, -1] = bias2[:, 0]
    trace = np.cumsum(rng.uniform(0, 1, (M, width)), axis=1) * scale * rng.uniform(0, 1)
    trace[:, 0] = 0.0
    return dict(bias2=bias2, trace=trace, budget=float(rng.choice([0.0, rng.uniform(0, 5)])))


register(
    Reference(
        f"{NAME}allocate_budget",
        "every integer choice enumerated in exact rational arithmetic: the returned choices fit "
        "the budget, their risk is the mean of the given terms, and the exact optimum lies "
        "between the dual bound and that risk",
        compare=_allocation_compare,
        draw=_allocation_draw,
        cases=(
            dict(
                bias2=np.array([[3.0, 2.0, 1.0], [1.0, 0.5, 0.6]]),
                trace=np.array([[0.0, 0.4, 0.9], [0.0, 0.1, 0.2]]),
                budget=2.0,
            ),
        ),
    )
)
