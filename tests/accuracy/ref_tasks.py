"""References for :mod:`icl.tasks`: the draws against their exact laws (exact tests: the sum of
N(0, 1) draws is normal, the sum of their squares chi-square, counts binomial), each test's
two-sided p-value turned into a z-score; a sampler's error is the largest |z| / 5, so that a wrong
scale, a wrong variance or a wrong frequency fails while a right sampler fails about once in 10^6
inputs. Structural facts (shapes, dtypes, exactly k ones, +-1 entries) must hold exactly."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from icl import runtime, tasks
from tests.accuracy import Reference, register

Z_UNIT = 5.0  # |z| of 5 is one unit of the declared accuracy


def z_of(p_value: float) -> float:
    """The |z| of a two-sided p-value."""
    return math.inf if p_value <= 0 else float(stats.norm.isf(min(p_value, 1.0) / 2))


def z_normal_sum(values, sd: float = 1.0, mean: float = 0.0) -> float:
    """|z| of the sum of i.i.d. N(mean, sd^2) values (exact: the sum is normal)."""
    values = np.asarray(values, dtype=float).ravel()
    return abs(float((values - mean).sum())) / (sd * math.sqrt(values.size))


def z_chi2(values, sd: float = 1.0) -> float:
    """|z| of the sum of squares of i.i.d. N(0, sd^2) values against sd^2 chi-square(m)."""
    values = np.asarray(values, dtype=float).ravel()
    statistic = float(((values / sd) ** 2).sum())
    p = 2 * min(stats.chi2.cdf(statistic, values.size), stats.chi2.sf(statistic, values.size))
    return z_of(p)


def z_normal(values, sd: float = 1.0) -> float:
    """The larger |z| of the normal-sum and chi-square tests of N(0, sd^2) values."""
    return max(z_normal_sum(values, sd), z_chi2(values, sd))


def z_binomial(count: int, trials: int, p: float) -> float:
    """|z| of an exact two-sided binomial test of ``count`` successes in ``trials``."""
    if trials == 0:
        return 0.0
    return z_of(stats.binomtest(int(count), int(trials), p).pvalue)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def prior_error(w: torch.Tensor, prior: str, psi, k) -> float:
    """The error (in units: |z| / 5, inf for a structural violation) of task draws ``w (B, d)``."""
    values = as_numpy(w)
    batch, d = values.shape
    if prior == "gaussian":
        return z_normal(values, 1.0 if psi is None else psi) / Z_UNIT
    if prior == "rademacher":
        if not np.all(np.abs(values) == 1):
            return math.inf
        return z_binomial(int((values > 0).sum()), values.size, 0.5) / Z_UNIT
    nonzero = values != 0
    if prior == "sparse-binary" and not (
        np.all(nonzero.sum(1) == k) and np.all(values[nonzero] == 1)
    ):
        return math.inf
    if prior == "sparse-gaussian" and not np.all(nonzero.sum(1) <= k):
        return math.inf
    worst = max(z_binomial(int(nonzero[:, j].sum()), batch, k / d) for j in (0, d - 1))
    if prior == "sparse-gaussian":
        worst = max(worst, z_binomial(int(nonzero.sum()), batch * d, k / d) if k < d else 0.0)
        worst = max(worst, z_normal(values[nonzero]))
    return worst / Z_UNIT


def expected_dtype(kwargs: dict) -> torch.dtype:
    if kwargs.get("dtype") is not None:
        return kwargs["dtype"]
    return runtime.dtype(torch.device(kwargs.get("device") or "cpu"))


def _prior_inputs(rng: np.random.Generator) -> dict:
    """A prior with its arguments: psi across [1e-15, 1e15] (edges included), k in [1, d]."""
    prior = tasks.PRIORS[rng.integers(len(tasks.PRIORS))]
    d = int(np.exp(rng.uniform(0, math.log(300))))
    out = {"d": d, "prior": prior}
    if prior == "gaussian" and rng.random() < 0.8:
        out["psi"] = tasks.PSI.sample(rng)
    if prior.startswith("sparse"):
        out["k"] = int(rng.integers(1, d + 1))
    return out


def _common(rng: np.random.Generator, entries: int) -> dict:
    """batch with batch * entries at most about 20,000, a seeded generator, a dtype."""
    top = max(1, 20_000 // entries)
    return {
        "batch": int(np.exp(rng.uniform(0, math.log(top + 1)))) or 1,
        "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
        "device": "cpu",
        "dtype": [torch.float32, torch.float64, None][rng.integers(3)],
    }


def _weights_inputs(rng: np.random.Generator) -> dict:
    prior = _prior_inputs(rng)
    return {**_common(rng, prior["d"]), **prior}


def _compare_weights(kwargs: dict, w: torch.Tensor) -> float:
    if tuple(w.shape) != (kwargs["batch"], kwargs["d"]) or w.dtype != expected_dtype(kwargs):
        return math.inf
    return prior_error(w, kwargs["prior"], kwargs.get("psi"), kwargs.get("k"))


register(
    Reference(
        "icl.tasks.sample_weights",
        "exact tests of the prior's law (normal sum, chi-square, binomial counts)",
        compare=_compare_weights,
        draw=_weights_inputs,
        cases=(
            {"batch": 4000, "d": 3, "prior": "gaussian", "psi": 1e-15, "dtype": torch.float32},
            {"batch": 4000, "d": 3, "prior": "gaussian", "psi": 1e15, "dtype": torch.float64},
            {"batch": 3000, "d": 7, "prior": "sparse-gaussian", "k": 7},
            {"batch": 3000, "d": 7, "prior": "sparse-binary", "k": 1},
        ),
    )
)


def labels_error(X, w, y, sigma2: float) -> float:
    """The error of labels ``y = X w + sqrt(sigma2) eps``: within the dot product's rounding of
    X w when sigma2 = 0 (or when the noise is below that rounding), else the residuals against
    N(0, sigma2) by exact tests."""
    eps = torch.finfo(y.dtype).eps
    X, w, y = as_numpy(X), as_numpy(w), as_numpy(y)
    exact = np.einsum("...nd,...d->...n", X, w)
    scale = np.einsum("...nd,...d->...n", np.abs(X), np.abs(w))
    rounding = 4 * (X.shape[-1] + 2) * eps * scale + np.abs(exact) * eps
    residual = y - exact
    sd = math.sqrt(sigma2)
    if sd < 1e4 * float(rounding.max(initial=0.0)):
        allowed = rounding + 6 * sd
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(residual == 0, 0.0, np.abs(residual) / allowed)
        return float(ratio.max())
    return z_normal(residual, sd) / Z_UNIT


def _compare_prompts(kwargs: dict, p: tasks.Prompts, w_given=None) -> float:
    batch, d = w_given.shape if w_given is not None else (kwargs["batch"], kwargs["d"])
    n, dtype = kwargs["n"], w_given.dtype if w_given is not None else expected_dtype(kwargs)
    shapes = {"X": (batch, n, d), "y": (batch, n), "w": (batch, d), "x_query": (batch, d)}
    shapes["y_query"] = (batch,)
    for name, shape in shapes.items():
        t = getattr(p, name)
        if tuple(t.shape) != shape or t.dtype != dtype:
            return math.inf
    if w_given is not None:
        task = 0.0 if torch.equal(p.w, w_given) else math.inf
    else:
        task = prior_error(p.w, kwargs.get("prior", "gaussian"), kwargs.get("psi"), kwargs.get("k"))
    X = torch.cat([p.X, p.x_query.unsqueeze(1)], 1)
    y = torch.cat([p.y, p.y_query.unsqueeze(1)], 1)
    sigma2 = kwargs.get("sigma2", 0.0)
    return max(task, z_normal(as_numpy(X)) / Z_UNIT, labels_error(X, p.w, y, sigma2))


def _prompts_inputs(rng: np.random.Generator) -> dict:
    prior = _prior_inputs(rng)
    n = int(np.exp(rng.uniform(0, math.log(200))))
    sigma2 = 0.0 if rng.random() < 0.2 else tasks.SIGMA2.sample(rng)
    return {**_common(rng, (n + 1) * prior["d"]), "n": n, "sigma2": sigma2, **prior}


register(
    Reference(
        "icl.tasks.sample_prompts",
        "exact tests: X and the query ~ N(0, 1), y - X w ~ N(0, sigma2), w from its prior",
        compare=_compare_prompts,
        draw=_prompts_inputs,
        cases=(
            {"batch": 500, "n": 4, "d": 3, "sigma2": 1e30, "psi": 1e15, "dtype": torch.float32},
            {"batch": 500, "n": 4, "d": 3, "sigma2": 1e-30, "psi": 1e-15},
            {"batch": 200, "n": 9, "d": 5, "prior": "sparse-binary", "k": 2, "sigma2": 0.0},
        ),
    )
)


def _for_tasks_inputs(rng: np.random.Generator) -> dict:
    d = int(np.exp(rng.uniform(0, math.log(100))))
    n = int(np.exp(rng.uniform(0, math.log(100))))
    batch = max(1, int(np.exp(rng.uniform(0, math.log(max(2, 20_000 // ((n + 1) * d)))))))
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    scale = 10.0 ** rng.uniform(-15, 15)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    w = (scale * torch.randn(batch, d, generator=gen, dtype=torch.float64)).clamp(-1e15, 1e15)
    if rng.random() < 0.3:
        w = w[:1].expand(batch, -1)  # one task for every prompt
    sigma2 = 0.0 if rng.random() < 0.2 else tasks.SIGMA2.sample(rng)
    return {"w": w.to(dtype), "n": n, "sigma2": sigma2, "generator": gen}


register(
    Reference(
        "icl.tasks.sample_prompts_for_tasks",
        "exact tests: X and the query ~ N(0, 1), y - X w ~ N(0, sigma2), w kept",
        compare=lambda kwargs, p: _compare_prompts(kwargs, p, w_given=kwargs["w"]),
        draw=_for_tasks_inputs,
        cases=(
            {"w": torch.full((300, 4), 1e15), "n": 3, "sigma2": 1e30},
            {"w": torch.full((300, 4), -1e-15, dtype=torch.float64), "n": 3, "sigma2": 1e-30},
        ),
    )
)


def _compare_prototype(kwargs: dict, w: torch.Tensor) -> float:
    """Exact: shape (d,), float64, ones exactly at 0, s, ..., (k - 1) s with s = d // k."""
    d, k = kwargs["d"], kwargs["k"]
    if tuple(w.shape) != (d,) or w.dtype != torch.float64:
        return math.inf
    ones = w.nonzero()[:, 0].tolist()
    right = ones == list(range(0, k * (d // k), d // k)) and int((w == 1).sum()) == k
    return 0.0 if right and int((w != 0).sum()) == k else math.inf


def _prototype_inputs(rng: np.random.Generator) -> dict:
    """d log-uniform in [1, 2^22] (the declared top, 2^27, allocates 1 GiB: one case is enough
    for CI), k in [1, d] log-uniform."""
    d = int(np.exp(rng.uniform(0, math.log(2**22))))
    return {"d": d, "k": int(np.exp(rng.uniform(0, math.log(d + 1)))) or 1}


register(
    Reference(
        "icl.tasks.prototype_support",
        "exact: the indices of its ones against range(0, k s, s)",
        compare=_compare_prototype,
        draw=_prototype_inputs,
        cases=({"d": 50, "k": 5}, {"d": 1, "k": 1}, {"d": 12, "k": 5}, {"d": 2**22, "k": 3}),
    )
)
