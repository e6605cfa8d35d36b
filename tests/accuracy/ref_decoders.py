"""References for :mod:`icl.decoders`.

Samplers are compared with their exact laws by exact tests (a chi-square over every outcome of
a small enumeration, a binomial count, a normal mean), each turned into a z-score; the error is
the largest |z| / 5 (see :mod:`tests.accuracy.ref_tasks`). Deterministic functions are compared
with an independent computation: Python loops, float64 or mpmath at 30 digits.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import torch
from scipy import stats

from tests.accuracy import Reference, register
from tests.accuracy.ref_tasks import Z_UNIT, as_numpy, z_of

# --- sequential draws without replacement, by enumeration ---


def sequential_law(weights: np.ndarray, k: int) -> dict[tuple, float]:
    """The exact probability of each ordered k-tuple of k sequential draws without replacement,
    each in proportion to the remaining weights (``weights`` float64, >= 0)."""
    weights = np.asarray(weights, dtype=float)
    top = weights.max()
    scaled = weights / top  # the law depends on the ratios only
    positive, law = np.flatnonzero(scaled > 0).tolist(), {}
    for order in itertools.permutations(positive, k):
        p = 1.0
        for m, i in enumerate(order):  # the remaining weight summed afresh: no cancellation
            p *= scaled[i] / math.fsum(scaled[j] for j in positive if j not in order[:m])
        law[order] = p
    return law


def set_law(weights: np.ndarray, k: int) -> dict[frozenset, float]:
    """The exact probability of each k-subset under the same draws."""
    law: dict[frozenset, float] = {}
    for order, p in sequential_law(weights, k).items():
        law[frozenset(order)] = law.get(frozenset(order), 0.0) + p
    return law


def z_counts(counts: dict, law: dict, draws: int) -> float:
    """|z| of observed outcome counts against an exact law: inf for an impossible outcome, else a
    chi-square goodness of fit (outcomes of expected count < 5 pooled) turned into a z-score."""
    if any(outcome not in law for outcome in counts):
        return math.inf
    expected = {o: draws * p for o, p in law.items()}
    big = [o for o, e in expected.items() if e >= 5]
    small = [o for o in expected if o not in big]
    cells = sorted(((counts.get(o, 0), expected[o]) for o in big), key=lambda cell: cell[1])
    if small:  # pooled, and into the least likely large cell while under 5 expected
        pooled = (sum(counts.get(o, 0) for o in small), sum(expected[o] for o in small))
        if pooled[1] < 5 and cells:
            pooled = (pooled[0] + cells[0][0], pooled[1] + cells[0][1])
            cells = cells[1:]
        cells.append(pooled)
    if len(cells) < 2:
        # a single cell holds (nearly) all the mass: a binomial test of the rest
        rest = draws - sum(counts.get(o, 0) for o in big)
        p_rest = max(0.0, 1.0 - sum(law[o] for o in big))
        if p_rest == 0:
            return 0.0 if rest == 0 else math.inf
        return z_of(stats.binomtest(rest, draws, p_rest).pvalue)
    statistic = sum((c - e) ** 2 / e for c, e in cells)
    return z_of(stats.chi2.sf(statistic, len(cells) - 1) * 2) if statistic > 0 else 0.0


def _weights(rng: np.random.Generator, rows: int, d: int, k: int, dtype) -> torch.Tensor:
    """Rows of d weights across scales 10^-320 .. 10^300 (a common scale, a spread of up to 20
    orders of magnitude within a row), some exactly 0, at least k positive per row."""
    scale = (
        10.0 ** rng.uniform(-320, 300) if dtype == torch.float64 else 10.0 ** rng.uniform(-36, 36)
    )
    spread = rng.uniform(0, 20)
    w = scale * 10.0 ** (-spread * rng.random((rows, d)))
    zeros = rng.random((rows, d)) < 0.3
    keep = np.argsort(rng.random((rows, d)), axis=1)[:, :k]
    zeros[np.arange(rows)[:, None], keep] = False
    w[np.arange(rows)[:, None], keep] = np.maximum(w[np.arange(rows)[:, None], keep], scale)
    w[zeros] = 0.0
    return torch.tensor(w, dtype=dtype)


def _draw_inputs(rng: np.random.Generator, with_greedy: bool) -> dict:
    d = int(rng.integers(1, 7))
    k = int(rng.integers(1, d + 1))
    rows = int(rng.integers(1, 4))
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    weights = _weights(rng, rows, d, k, dtype)
    draws = 3000
    weights = weights.unsqueeze(1).expand(rows, draws, d)  # each row drawn 3000 times
    out = {
        "weights": weights,
        "k": k,
        "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
    }
    if with_greedy:
        out["greedy"] = bool(rng.random() < 0.3)
    return out


def _compare_ordered(kwargs: dict, drawn: torch.Tensor) -> float:
    weights, k = kwargs["weights"], kwargs["k"]
    rows, draws, _ = weights.shape
    if tuple(drawn.shape) != (rows, draws, k) or drawn.dtype != torch.int64:
        return math.inf
    worst = 0.0
    for r in range(rows):
        law = sequential_law(as_numpy(weights[r, 0]), k)
        keys, counts = torch.unique(drawn[r], dim=0, return_counts=True)
        counts = {tuple(key.tolist()): int(c) for key, c in zip(keys, counts, strict=True)}
        worst = max(worst, z_counts(counts, law, draws))
    return worst / Z_UNIT


def acceptable_top(weights: np.ndarray, k: int, tol: float) -> list[frozenset]:
    """Every k-subset that a greedy choice may return: the k largest weights, any among weights
    tied (within a relative ``tol``) with the k-th largest."""
    order = np.sort(weights)[::-1]
    kth = order[k - 1]
    above = [i for i, v in enumerate(weights) if v > kth * (1 + tol)]
    tied = [i for i, v in enumerate(weights) if kth * (1 - tol) <= v <= kth * (1 + tol)]
    return [frozenset(above) | frozenset(c) for c in itertools.combinations(tied, k - len(above))]


def _compare_support(kwargs: dict, support: torch.Tensor) -> float:
    weights, k = kwargs["weights"], kwargs["k"]
    if support.shape != weights.shape or support.dtype != weights.dtype:
        return math.inf
    rows, draws, _ = weights.shape
    chosen = as_numpy(support)
    if not (np.all((chosen == 0) | (chosen == 1)) and np.all(chosen.sum(-1) == k)):
        return math.inf
    worst = 0.0
    for r in range(rows):
        w = as_numpy(weights[r, 0])
        sets = [frozenset(np.flatnonzero(row).tolist()) for row in chosen[r]]
        if kwargs.get("greedy", False):
            tol = 4 * torch.finfo(weights.dtype).eps
            if any(s not in acceptable_top(w, k, tol) for s in sets):
                return math.inf
            continue
        counts: dict = {}
        for s in sets:
            counts[s] = counts.get(s, 0) + 1
        worst = max(worst, z_counts(counts, set_law(w, k), draws))
    return worst / Z_UNIT


SUBNORMAL = torch.tensor([[3e-310, 1e-310, 1e-310, 0.0, 0.0]], dtype=torch.float64)
FAR = torch.tensor([[0.0, 1e-320, 1.0, 0.0, 3e-320]], dtype=torch.float64)

register(
    Reference(
        "icl.decoders.sparse_chains.draw_without_replacement",
        "chi-square of the ordered k-tuples against the sequential law, enumerated in float64",
        compare=_compare_ordered,
        draw=lambda rng: _draw_inputs(rng, with_greedy=False),
        cases=tuple(
            {
                "weights": w.unsqueeze(1).expand(1, 4000, 5),
                "k": k,
                "generator": torch.Generator().manual_seed(1),
            }
            for w, k in ((SUBNORMAL, 2), (SUBNORMAL, 3), (FAR, 2), (FAR, 3))
        ),
    )
)

register(
    Reference(
        "icl.decoders.sparse_chains.decode_support",
        "chi-square of the k-subsets against their enumerated law; greedy: the k largest",
        compare=_compare_support,
        draw=lambda rng: _draw_inputs(rng, with_greedy=True),
        cases=tuple(
            {
                "weights": w.unsqueeze(1).expand(1, 4000, 5),
                "k": k,
                "generator": torch.Generator().manual_seed(2),
                "greedy": g,
            }
            for w, k in ((SUBNORMAL, 2), (FAR, 3))
            for g in (False, True)
        ),
    )
)


def _compare_codes(kwargs: dict, codes: torch.Tensor) -> float:
    w = kwargs["w"]
    bits = as_numpy(w.to(torch.float64))
    rows = bits.reshape(-1, bits.shape[-1])
    exact = [sum(int(b) << j for j, b in enumerate(row)) for row in rows]
    if codes.dtype != torch.int64 or tuple(codes.shape) != tuple(w.shape[:-1]):
        return math.inf
    return 0.0 if codes.reshape(-1).tolist() == exact else math.inf


def _codes_inputs(rng: np.random.Generator) -> dict:
    d = int(rng.integers(1, 63))
    shape = tuple(int(s) for s in rng.integers(1, 5, size=rng.integers(0, 3))) + (d,)
    bits = torch.from_numpy(rng.random(shape) < rng.random())
    kind = [torch.float32, torch.float64, torch.int64, torch.bool][rng.integers(4)]
    return {"w": bits.to(kind)}


register(
    Reference(
        "icl.decoders.sparse_chains.support_codes",
        "Python integers: sum of w_j 2^j",
        compare=_compare_codes,
        draw=_codes_inputs,
        cases=({"w": torch.ones(2, 62)}, {"w": torch.zeros(1)}, {"w": torch.eye(62).bool()}),
    )
)


# --- sparse binary chains: the law of the final support, enumerated ---


def _step_weights(X: np.ndarray, y: np.ndarray, support, eta: float, clip: float) -> np.ndarray:
    """w - eta X^T (X w - y) / n, clipped at clip (float64)."""
    n, d = X.shape
    w = np.zeros(d)
    w[list(support)] = 1.0
    return np.maximum(w - eta * X.T @ (X @ w - y) / n, clip)


def chain_law(X, y, k, eta, steps, clip) -> dict[frozenset, float]:
    """The exact law of the final support of one sampled chain (float64 weights)."""
    law = {frozenset(): 1.0}
    for _ in range(steps):
        nxt: dict = {}
        for support, p in law.items():
            for s, q in set_law(_step_weights(X, y, support, eta, clip), k).items():
                nxt[s] = nxt.get(s, 0.0) + p * q
        law = nxt
    return law


def greedy_finals(X, y, k, eta, steps, clip, tol) -> set[frozenset]:
    """Every final support a greedy chain may reach (ties within ``tol`` branch)."""
    states = {frozenset()}
    for _ in range(steps):
        states = {
            s
            for state in states
            for s in acceptable_top(_step_weights(X, y, state, eta, clip), k, tol)
        }
    return states


def _chains_inputs(rng: np.random.Generator) -> dict:
    batch, n, d = int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
    k = int(rng.integers(1, d + 1))
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    scale = 10.0 ** rng.uniform(-3, 3)
    X = torch.randn(batch, n, d, generator=gen, dtype=torch.float64)
    w = torch.zeros(batch, d, dtype=torch.float64)
    w[:, :k] = 1.0
    y = torch.einsum("bnd,bd->bn", X, w) + 0.1 * torch.randn(
        batch, n, generator=gen, dtype=torch.float64
    )
    greedy = bool(rng.random() < 0.3)
    return {
        "X": (scale * X).to(dtype),
        "y": (scale * y).to(dtype),
        "k": k,
        "eta": float(10.0 ** rng.uniform(-3, 1)) / scale**2,
        "steps": int(rng.integers(1, 4)),
        "n_chains": 1 if greedy and rng.random() < 0.5 else 3000,
        "greedy": greedy,
        "clip": float(10.0 ** rng.uniform(-30, 0)) * (1.0 if dtype == torch.float64 else 1.0),
        "generator": gen,
    }


def _compare_chains(kwargs: dict, final: torch.Tensor) -> float:
    X, y, k = kwargs["X"], kwargs["y"], kwargs["k"]
    batch, _, d = X.shape
    chains = kwargs.get("n_chains", 1)
    if tuple(final.shape) != (batch, chains, d) or final.dtype != X.dtype:
        return math.inf
    chosen = as_numpy(final)
    if not (np.all((chosen == 0) | (chosen == 1)) and np.all(chosen.sum(-1) == k)):
        return math.inf
    args = (kwargs["eta"], kwargs["steps"], kwargs.get("clip", 1e-10))
    worst = 0.0
    for b in range(batch):
        Xb, yb = as_numpy(X[b]), as_numpy(y[b])
        sets = [frozenset(np.flatnonzero(row).tolist()) for row in chosen[b]]
        if kwargs.get("greedy", False):
            tol = 64 * torch.finfo(X.dtype).eps * max(1.0, float(np.abs(Xb).max() ** 2) * args[0])
            if len(set(sets)) != 1 or sets[0] not in greedy_finals(Xb, yb, k, *args, tol):
                return math.inf
            continue
        counts: dict = {}
        for s in sets:
            counts[s] = counts.get(s, 0) + 1
        worst = max(worst, z_counts(counts, chain_law(Xb, yb, k, *args), chains))
    return worst / Z_UNIT


register(
    Reference(
        "icl.decoders.sparse_chains.sparse_binary_chains",
        "chi-square of the final supports against their law, enumerated step by step in float64",
        compare=_compare_chains,
        draw=_chains_inputs,
    )
)


# --- chains of gradient-descent thoughts: exact moments ---


def gd_path(X: np.ndarray, y: np.ndarray, eta: float, lam: float, level2: float, steps: int):
    """The exact mean m_t and covariance C_t of the chain, t = 0..steps, in float64:
    w_{t+1} = B w_t + c + e_t, B = I - eta (X^T X / n + lam I + level2 I), c = eta X^T y / n,
    where e_t = -eta level2 ((z^T w_t) z - w_t), z ~ N(0, I), has mean 0 and covariance
    eta^2 level2^2 (|w_t|^2 I + w_t w_t^T) given w_t (multiplicative noise; level2 = 0 for greedy
    decoding), so C_{t+1} = B C_t B^T + eta^2 level2^2 ((tr C_t + |m_t|^2) I + C_t + m_t m_t^T)."""
    n, d = X.shape
    B = np.eye(d) - eta * (X.T @ X / n + lam * np.eye(d)) - eta * level2 * np.eye(d)
    c = eta * X.T @ y / n
    m, C = np.zeros(d), np.zeros((d, d))
    means, covariances = [m], [C]
    for _ in range(steps):
        noise = (np.trace(C) + m @ m) * np.eye(d) + C + np.outer(m, m)
        C = B @ C @ B.T + eta**2 * level2**2 * noise
        m = B @ m + c
        means.append(m)
        covariances.append(C)
    return np.array(means), np.array(covariances)


def _moment_z(w: np.ndarray, mean: np.ndarray, cov: np.ndarray, tol: float) -> float:
    """|z| of N chains' final thoughts ``w (N, d)`` against their exact mean and covariance: the
    mean per coordinate (SE from the exact variance) and the mean squared distance to the exact
    mean against tr C (SE from the draws), each after removing a round-off allowance ``tol``."""
    N = w.shape[0]
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0) / N)
    gap = np.maximum(np.abs(w.mean(0) - mean) - tol, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_mean = np.where(gap == 0, 0.0, gap / sd)
    q = ((w - mean) ** 2).sum(1)
    se_q = q.std(ddof=1) / math.sqrt(N) + 2 * tol * math.sqrt(np.trace(cov)) + tol**2 * w.shape[1]
    z_q = abs(q.mean() - np.trace(cov)) / se_q if se_q > 0 else (0.0 if q.mean() == 0 else math.inf)
    return max(float(np.nan_to_num(z_mean, nan=math.inf).max()), z_q)


def _compare_gd(kwargs: dict, out: torch.Tensor) -> float:
    X, y = kwargs["X"], kwargs["y"]
    batch, _, d = X.shape
    steps, chains = kwargs["steps"], kwargs.get("n_chains", 1)
    noise, level = kwargs.get("noise", "none"), kwargs.get("level", 0.0)
    eta, lam = kwargs["eta"], kwargs.get("lam", 0.0)
    path = kwargs.get("return_path", False)
    shape = (batch, chains, steps + 1, d) if path else (batch, chains, d)
    if tuple(out.shape) != shape or out.dtype != X.dtype:
        return math.inf
    eps = torch.finfo(X.dtype).eps
    worst = 0.0
    for b in range(batch):
        Xb, yb = as_numpy(X[b]), as_numpy(y[b])
        level2 = level**2 if noise == "multiplicative" else 0.0
        means, covariances = gd_path(Xb, yb, eta, lam, level2, steps)
        tol = 64 * (steps + 1) * d * eps * max(np.abs(means).max(), 1e-300)
        final = as_numpy(out[b, :, -1] if path else out[b])
        if path and not np.all(as_numpy(out[b, :, 0]) == 0):
            return math.inf
        if noise == "none":
            got = as_numpy(out[b]) if path else final
            want = means if path else means[-1]
            worst = max(worst, float(np.abs(got - want).max()) / tol)
            continue
        if noise == "additive":
            A = np.eye(d) - eta * (Xb.T @ Xb / Xb.shape[0] + lam * np.eye(d))
            cov, power = np.zeros((d, d)), np.eye(d)
            for _ in range(steps):
                cov, power = cov + level**2 * power @ power.T, A @ power
        else:
            cov = covariances[-1]
        if math.sqrt(max(np.trace(cov), 0.0)) < 1e4 * tol:  # noise below round-off
            spread = 10 * math.sqrt(max(np.trace(cov), 0.0)) + tol
            worst = max(worst, float(np.abs(final - means[-1]).max()) / spread)
            continue
        worst = max(worst, _moment_z(final, means[-1], cov, tol) / Z_UNIT)
    return worst


def _gd_inputs(rng: np.random.Generator) -> dict:
    batch, n, d = int(rng.integers(1, 3)), int(rng.integers(1, 11)), int(rng.integers(1, 6))
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    scale = 10.0 ** rng.uniform(-3, 3)
    X = scale * torch.randn(batch, n, d, generator=gen, dtype=torch.float64)
    y = 10.0 ** rng.uniform(-3, 3) * torch.randn(batch, n, generator=gen, dtype=torch.float64)
    s_max = float(torch.linalg.eigvalsh(X.transpose(1, 2) @ X / n).max())
    lam = 0.0 if rng.random() < 0.5 else s_max * 10.0 ** rng.uniform(-6, 2)
    eta = 10.0 ** rng.uniform(-6, math.log10(3)) / (s_max + lam)
    steps = int(rng.integers(0, 51))
    noise = ["none", "additive", "multiplicative"][rng.integers(3)]
    level = 0.0
    if noise == "additive":
        level = 10.0 ** rng.uniform(-12, 6)
    elif noise == "multiplicative":  # eta level^2 (d + 2) at most 1: the moments stay finite
        level = math.sqrt(10.0 ** rng.uniform(-12, 0) / (eta * (d + 2)))
    return {
        "X": X.to(dtype),
        "y": y.to(dtype),
        "eta": eta,
        "steps": steps,
        "n_chains": int(rng.integers(1, 6)) if noise == "none" else 2000,
        "lam": lam,
        "noise": noise,
        "level": level,
        "generator": gen,
        "return_path": bool(rng.random() < 0.2),
    }


register(
    Reference(
        "icl.decoders.gd_chains.sample_chains",
        "the GD path in float64 (greedy); noisy: the exact mean and covariance of the chain "
        "(recursions in float64) against the draws' mean and spread",
        compare=_compare_gd,
        draw=_gd_inputs,
    )
)


# --- exact answer distributions over {-1, +1}^d ---

DIGITS = 30


def dtype_scale(dtype) -> float:
    """The ratio of the dtype's epsilon to float64's (1 or 2^29): declared accuracies are for
    float64 and scale with the epsilon."""
    return torch.finfo(dtype).eps / torch.finfo(torch.float64).eps


def in_units(value, exact, allowed) -> float:
    """max |value - exact| / allowed, elementwise; equal values (infinities included) count 0, a
    NaN or a mismatched infinity inf."""
    value, exact, allowed = np.broadcast_arrays(
        np.asarray(value, float), np.asarray(exact, float), np.asarray(allowed, float)
    )
    same = (value == exact) | (
        np.isinf(value) & np.isinf(exact) & (np.sign(value) == np.sign(exact))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(value - exact) / allowed
    ratio = np.where(same, 0.0, ratio)
    ratio = np.where(np.isnan(ratio), math.inf, ratio)
    return float(ratio.max()) if ratio.size else 0.0


def _plain_signs(d: int) -> list[tuple]:
    return list(itertools.product((1.0, -1.0), repeat=d))


def _compare_sign_vectors(kwargs: dict, v: torch.Tensor) -> float:
    dtype = kwargs.get("dtype", torch.float64)
    if v.dtype != dtype or v.device.type != "cpu":
        return math.inf
    return 0.0 if [tuple(row) for row in v.tolist()] == _plain_signs(kwargs["d"]) else math.inf


register(
    Reference(
        "icl.decoders.answer_distribution.sign_vectors",
        "itertools.product((+1, -1), repeat=d)",
        compare=_compare_sign_vectors,
        draw=lambda rng: {
            "d": int(rng.integers(1, 17)),
            "device": "cpu",
            "dtype": [torch.float32, torch.float64][rng.integers(2)],
        },
        cases=({"d": 1}, {"d": 16, "dtype": torch.float32}),
    )
)


def _random_signs(rng: np.random.Generator, shape) -> torch.Tensor:
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    return torch.from_numpy(np.where(rng.random(shape) < rng.random(), 1.0, -1.0)).to(dtype)


def _compare_index(kwargs: dict, index: torch.Tensor) -> float:
    v = kwargs["v"]
    rows = v.reshape(-1, v.shape[-1]).tolist()
    exact = [sum(1 << (len(r) - 1 - j) for j, s in enumerate(r) if s < 0) for r in rows]
    if index.dtype != torch.int64 or tuple(index.shape) != tuple(v.shape[:-1]):
        return math.inf
    return 0.0 if index.reshape(-1).tolist() == exact else math.inf


register(
    Reference(
        "icl.decoders.answer_distribution.index_of",
        "Python integers: the minus signs as bits, the first coefficient most significant",
        compare=_compare_index,
        draw=lambda rng: {
            "v": _random_signs(
                rng,
                tuple(int(s) for s in rng.integers(1, 5, size=rng.integers(0, 3)))
                + (int(rng.integers(1, 63)),),
            )
        },
        cases=({"v": -torch.ones(62)}, {"v": torch.ones(3, 1)}),
    )
)


def _prompt_inputs(rng: np.random.Generator, d_max: int = 4) -> dict:
    batch, n, d = int(rng.integers(1, 3)), int(rng.integers(1, 7)), int(rng.integers(1, d_max + 1))
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    gen = np.random.default_rng(int(rng.integers(2**62)))
    X = 10.0 ** rng.uniform(-6, 6) * gen.standard_normal((batch, n, d))
    y = 10.0 ** rng.uniform(-6, 6) * gen.standard_normal((batch, n))
    return {"X": torch.from_numpy(X).to(dtype), "y": torch.from_numpy(y).to(dtype)}


def _mp_rows(t: torch.Tensor) -> list:
    return [[mpmath.mpf(float(x)) for x in row] for row in t.tolist()]


def _compare_posterior(kwargs: dict, value: torch.Tensor) -> float:
    X, y, sigma2 = kwargs["X"], kwargs["y"], kwargs["sigma2"]
    batch, n, d = X.shape
    if tuple(value.shape) != (batch, 2**d) or value.dtype != X.dtype:
        return math.inf
    worst = 0.0
    signs = _plain_signs(d)
    with mpmath.workdps(DIGITS):
        for b in range(batch):
            Xb, yb = _mp_rows(X[b]), [mpmath.mpf(float(v)) for v in y[b].tolist()]
            log_lik = [
                -mpmath.fsum(
                    (yb[i] - mpmath.fsum(Xb[i][j] * v[j] for j in range(d))) ** 2 for i in range(n)
                )
                / (2 * mpmath.mpf(sigma2))
                for v in signs
            ]
            top = max(log_lik)
            total = top + mpmath.log(mpmath.fsum(mpmath.exp(a - top) for a in log_lik))
            exact = [float(a - total) for a in log_lik]
            exact = torch.tensor(exact, dtype=torch.float64).to(X.dtype).double().numpy()
            K = max(
                sum((abs(float(yb[i])) + sum(abs(float(x)) for x in Xb[i])) ** 2 for i in range(n))
                for _ in (0,)
            ) / (2 * sigma2)
            allowed = 1e-12 * (1 + K) * dtype_scale(X.dtype)
            worst = max(worst, in_units(as_numpy(value[b]), exact, allowed))
    return worst


def _posterior_inputs(rng: np.random.Generator) -> dict:
    return {**_prompt_inputs(rng), "sigma2": float(10.0 ** rng.uniform(-12, 12))}


register(
    Reference(
        "icl.decoders.answer_distribution.rademacher_log_posterior",
        "log-likelihoods and their logsumexp in mpmath at 30 digits",
        compare=_compare_posterior,
        draw=_posterior_inputs,
        cases=(
            *(
                {
                    "X": torch.tensor([[[1.0, 0.5], [0.3, -1.0]]], dtype=dtype),
                    "y": torch.tensor([[1.2, -0.4]], dtype=dtype),
                    "sigma2": 1e-300,
                }
                for dtype in (torch.float32, torch.float64)
            ),
        ),
    )
)


def _exact_w_hat(X: torch.Tensor, y: torch.Tensor, eta: float):
    """eta X^T y / n exactly (fractions of the floats), and S = eta sum_i |x_ij y_i| / n."""
    from fractions import Fraction

    batch, n, d = X.shape
    Xs, ys = X.double().tolist(), y.double().tolist()
    exact = [
        [
            float(
                Fraction(eta)
                * sum(Fraction(Xs[b][i][j]) * Fraction(ys[b][i]) for i in range(n))
                / n
            )
            for j in range(d)
        ]
        for b in range(batch)
    ]
    scale = [
        [eta * sum(abs(Xs[b][i][j] * ys[b][i]) for i in range(n)) / n for j in range(d)]
        for b in range(batch)
    ]
    return np.array(exact), np.array(scale)


def _estimate_inputs(rng: np.random.Generator) -> dict:
    return {**_prompt_inputs(rng, d_max=8), "eta": float(10.0 ** rng.uniform(-12, 12))}


register(
    Reference(
        "icl.decoders.answer_distribution.linear_estimate",
        "exact rational arithmetic on the floats (fractions)",
        compare=lambda kwargs, value: in_units(
            as_numpy(value),
            *(lambda e, s: (e, 1e-12 * s * dtype_scale(kwargs["X"].dtype)))(
                *_exact_w_hat(kwargs["X"], kwargs["y"], kwargs["eta"])
            ),
        ),
        draw=_estimate_inputs,
    )
)


def _compare_linear_log_probs(kwargs: dict, value: torch.Tensor) -> float:
    X, T = kwargs["X"], kwargs["temperature"]
    batch, _, d = X.shape
    if tuple(value.shape) != (batch, 2**d) or value.dtype != X.dtype:
        return math.inf
    w_hat, scale = _exact_w_hat(X, kwargs["y"], kwargs["eta"])
    worst = 0.0
    with mpmath.workdps(DIGITS):
        for b in range(batch):
            exact = [
                float(
                    mpmath.fsum(
                        -mpmath.log1p(mpmath.exp(-2 * v[j] * mpmath.mpf(w_hat[b, j]) / T))
                        for j in range(d)
                    )
                )
                for v in _plain_signs(d)
            ]
            exact = torch.tensor(exact, dtype=torch.float64).to(X.dtype).double().numpy()
            with np.errstate(over="ignore"):
                allowed = (
                    1e-12 * dtype_scale(X.dtype) * (1 + np.abs(exact) + 2 * scale[b].sum() / T)
                )
            worst = max(worst, in_units(as_numpy(value[b]), exact, allowed))
    return worst


register(
    Reference(
        "icl.decoders.answer_distribution.linear_log_probs",
        "log sigmoid of the exact w_hat / T in mpmath at 30 digits",
        compare=_compare_linear_log_probs,
        draw=lambda rng: {
            **_estimate_inputs(rng),
            "temperature": float(10.0 ** rng.uniform(-320, 12)),
        },
    )
)


def _log_probs_inputs(rng: np.random.Generator) -> dict:
    """A table (B, 2^d) of log-probabilities with logits spread over up to 10^3 nats (some
    probabilities far below the smallest float), float32 or float64."""
    batch, d = int(rng.integers(1, 4)), int(rng.integers(1, 7))
    logits = 10.0 ** rng.uniform(-3, 3) * rng.standard_normal((batch, 2**d))
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    return {"log_probs": torch.log_softmax(torch.from_numpy(logits), 1).to(dtype)}


def _exact_probs(log_probs: torch.Tensor) -> list[list]:
    with mpmath.workdps(DIGITS):
        return [[mpmath.exp(mpmath.mpf(float(x))) for x in row] for row in log_probs.tolist()]


def _floor(dtype) -> float:
    return 1e-300 if dtype == torch.float64 else 1e-37


def _compare_marginals(kwargs: dict, value: torch.Tensor) -> float:
    lp = kwargs["log_probs"]
    batch, width = lp.shape
    d = width.bit_length() - 1
    if tuple(value.shape) != (batch, d) or value.dtype != lp.dtype:
        return math.inf
    signs = _plain_signs(d)
    with mpmath.workdps(DIGITS):
        probs = _exact_probs(lp)
        exact = [
            [float(mpmath.fsum(p for p, v in zip(row, signs) if v[j] > 0)) for j in range(d)]
            for row in probs
        ]
    exact = np.minimum(np.array(exact), 1.0)
    allowed = np.maximum(1e-13 * dtype_scale(lp.dtype) * exact, _floor(lp.dtype))
    return in_units(as_numpy(value), exact, allowed)


register(
    Reference(
        "icl.decoders.answer_distribution.marginals",
        "sums of exp(log P) in mpmath at 30 digits",
        compare=_compare_marginals,
        draw=_log_probs_inputs,
    )
)


def _compare_probability(kwargs: dict, value: torch.Tensor) -> float:
    lp, w = kwargs["log_probs"], kwargs["w"]
    rows = [sum(1 << (len(r) - 1 - j) for j, s in enumerate(r) if s < 0) for r in w.tolist()]
    with mpmath.workdps(DIGITS):
        exact = np.array(
            [float(mpmath.exp(mpmath.mpf(float(lp[b, r])))) for b, r in enumerate(rows)]
        )
    if value.dtype != lp.dtype or tuple(value.shape) != (lp.shape[0],):
        return math.inf
    allowed = np.maximum(1e-15 * dtype_scale(lp.dtype) * exact, _floor(lp.dtype))
    return in_units(as_numpy(value), exact, allowed)


def _probability_inputs(rng: np.random.Generator) -> dict:
    kwargs = _log_probs_inputs(rng)
    lp = kwargs["log_probs"]
    d = lp.shape[1].bit_length() - 1
    return {**kwargs, "w": _random_signs(rng, (lp.shape[0], d)).to(lp.dtype)}


register(
    Reference(
        "icl.decoders.answer_distribution.probability_of",
        "exp of the indexed log-probability in mpmath; the index by Python bits",
        compare=_compare_probability,
        draw=_probability_inputs,
    )
)


def _compare_mode(kwargs: dict, value: torch.Tensor) -> float:
    lp = kwargs["log_probs"]
    d = lp.shape[1].bit_length() - 1
    signs = _plain_signs(d)
    rows = lp.tolist()
    exact = [signs[max(range(len(r)), key=lambda i: (r[i], -i))] for r in rows]
    return (
        0.0 if [tuple(v) for v in value.tolist()] == exact and value.dtype == lp.dtype else math.inf
    )


register(
    Reference(
        "icl.decoders.answer_distribution.mode",
        "Python argmax (the first of equal maxima)",
        compare=_compare_mode,
        draw=_log_probs_inputs,
        cases=({"log_probs": torch.full((2, 8), -math.log(8.0), dtype=torch.float64)},),
    )
)

register(
    Reference(
        "icl.decoders.answer_distribution.answer_dimension",
        "log2 of the table's width",
        exact=lambda log_probs: float(math.log2(log_probs.shape[1])),
        draw=_log_probs_inputs,
    )
)


# --- the softmax transformer's coefficient sampler ---


def tiny_decoder(rng: np.random.Generator, dtype: torch.dtype):
    """A small CoefficientDecoder (d <= 4) with its head scaled by 10^-2 .. 10^3 (margins from
    nearly 0 to large), and prompts for it at scales 10^-3 .. 10^3."""
    from icl.models.softmax_transformer import CoefficientDecoder, DecoderConfig

    d, n, batch = int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 3))
    config = DecoderConfig(d=d, n=n, sigma2=1.0, width=8, layers=int(rng.integers(1, 3)), heads=2)
    model = CoefficientDecoder(config, seed=int(rng.integers(1000)), dtype=dtype).eval()
    with torch.no_grad():
        model.head.weight.mul_(10.0 ** rng.uniform(-2, 3))
    X = 10.0 ** rng.uniform(-3, 3) * torch.from_numpy(rng.standard_normal((batch, n, d)))
    y = 10.0 ** rng.uniform(-3, 3) * torch.from_numpy(rng.standard_normal((batch, n)))
    return {"model": model, "X": X.to(dtype), "y": y.to(dtype)}


def forced_margins(model, X: torch.Tensor, y: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """The margins m_j given each row's own prefix by teacher forcing (the full causal forward
    pass, not the incremental one the decoders use), in float64 with the model's weights:
    ``signs (B, S, d)`` -> ``(B, S, d)``."""
    batch, count, d = signs.shape
    double = type(model)(model.config).double().eval()
    double.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    with torch.no_grad():
        logits = double(
            X.double().repeat_interleave(count, 0),
            y.double().repeat_interleave(count, 0),
            signs.reshape(batch * count, d).double(),
        )
    return (logits[..., 0] - logits[..., 1]).reshape(batch, count, d)


def margin_tolerance(model, margins: torch.Tensor) -> torch.Tensor:
    """How far the model's own margins may lie from the float64 ones: 1000 eps (1 + |m|)."""
    return 1e3 * torch.finfo(model.head.weight.dtype).eps * (1 + margins.abs())


def _compare_samples(kwargs: dict, value) -> float:
    """Exact: the recorded probability of + at each position lies within sigmoid((m -+ tol) / T)
    of the teacher-forced margin m given the sample's own prefix (T = 0: 1{m >= 0}, either way
    within tol). Random: given those probabilities, the draws' count of + at each position
    against its exact mean and variance (|z|, a sum of independent Bernoullis)."""
    model, T = kwargs["model"], kwargs["temperature"]
    samples, probs = value
    batch, count = kwargs["X"].shape[0], kwargs["n_samples"]
    if samples.shape != (batch, count, model.d) or probs.shape != samples.shape:
        return math.inf
    if not bool(((samples == 1) | (samples == -1)).all()):
        return math.inf
    m = forced_margins(model, kwargs["X"], kwargs["y"], samples)
    tol = margin_tolerance(model, m)
    if T == 0:
        low, high = (m - tol >= 0).double(), (m + tol >= 0).double()
    else:
        low, high = torch.sigmoid((m - tol) / T), torch.sigmoid((m + tol) / T)
    if not bool(((probs >= low) & (probs <= high)).all()):
        return math.inf
    plus = (samples > 0).double()
    variance = (probs * (1 - probs)).sum(1)
    gap = (plus - probs).sum(1)
    sure = variance == 0
    if bool((gap[sure] != 0).any()):  # a draw against a certain outcome
        return math.inf
    z = gap[~sure].abs() / variance[~sure].sqrt()
    return float(z.max()) / Z_UNIT if z.numel() else 0.0


def _samples_inputs(rng: np.random.Generator) -> dict:
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    draw = rng.random()
    if draw < 0.15:
        temperature = 0.0
    elif draw < 0.3:
        temperature = float(10.0 ** rng.uniform(-323, -300))  # m / T overflows
    else:
        temperature = float(10.0 ** rng.uniform(-6, 12))
    return {
        **tiny_decoder(rng, dtype),
        "n_samples": 1000,
        "temperature": temperature,
        "generator": torch.Generator().manual_seed(int(rng.integers(2**62))),
    }


register(
    Reference(
        "icl.decoders.coefficient_sampler.sample_coefficients",
        "teacher-forced float64 margins: the recorded probabilities exactly, the draws given "
        "them by a z-test per position",
        compare=_compare_samples,
        draw=_samples_inputs,
    )
)


def _compare_greedy(kwargs: dict, value: torch.Tensor) -> float:
    model = kwargs["model"]
    if value.shape != (kwargs["X"].shape[0], model.d):
        return math.inf
    m = forced_margins(model, kwargs["X"], kwargs["y"], value.unsqueeze(1))[:, 0]
    tol = margin_tolerance(model, m)
    right = torch.where(value > 0, m + tol >= 0, m - tol < 0)
    return 0.0 if bool(right.all()) and bool((value.abs() == 1).all()) else math.inf


register(
    Reference(
        "icl.decoders.coefficient_sampler.greedy_coefficients",
        "teacher-forced float64 margins along the returned answer: + exactly where m >= 0 "
        "(within the model's round-off)",
        compare=_compare_greedy,
        draw=lambda rng: tiny_decoder(rng, [torch.float32, torch.float64][rng.integers(2)]),
    )
)


def _compare_enumerated(kwargs: dict, value: torch.Tensor) -> float:
    model = kwargs["model"]
    d, batch = model.d, kwargs["X"].shape[0]
    v = torch.tensor(_plain_signs(d), dtype=torch.float64).expand(batch, -1, -1)
    if value.shape != (batch, 2**d, d) or value.dtype != torch.float64:
        return math.inf
    exact = forced_margins(model, kwargs["X"], kwargs["y"], v)
    allowed = 1e-12 * dtype_scale(model.head.weight.dtype) * (1 + exact.abs())
    return in_units(as_numpy(value), as_numpy(exact), as_numpy(allowed))


register(
    Reference(
        "icl.decoders.coefficient_sampler.enumerate_margins",
        "the network in float64 (same weights), teacher-forced on every sign vector",
        compare=_compare_enumerated,
        draw=lambda rng: tiny_decoder(rng, [torch.float32, torch.float64][rng.integers(2)]),
    )
)


def _compare_log_probs_at(kwargs: dict, value: torch.Tensor) -> float:
    margins, T = kwargs["margins"], kwargs["temperature"]
    batch, width, d = margins.shape
    signs = _plain_signs(d)
    with mpmath.workdps(DIGITS):
        exact = [
            [
                float(
                    mpmath.fsum(
                        -mpmath.log1p(mpmath.exp(-v[j] * mpmath.mpf(float(row[s][j])) / T))
                        for j in range(d)
                    )
                )
                for s, v in enumerate(signs)
            ]
            for row in margins.tolist()
        ]
    exact = torch.tensor(exact, dtype=torch.float64).to(margins.dtype).double().numpy()
    if value.dtype != margins.dtype or tuple(value.shape) != (batch, width):
        return math.inf
    allowed = np.maximum(1e-12 * dtype_scale(margins.dtype) * np.abs(exact), _floor(margins.dtype))
    return in_units(as_numpy(value), exact, allowed)


def _log_probs_at_inputs(rng: np.random.Generator) -> dict:
    batch, d = int(rng.integers(1, 3)), int(rng.integers(1, 6))
    margins = 10.0 ** rng.uniform(-6, 6) * rng.standard_normal((batch, 2**d, d))
    margins[rng.random(margins.shape) < 0.1] = 0.0
    dtype = [torch.float32, torch.float64][rng.integers(2)]
    return {
        "margins": torch.from_numpy(margins).to(dtype),
        "temperature": float(10.0 ** rng.uniform(-320, 12)),
    }


register(
    Reference(
        "icl.decoders.coefficient_sampler.log_probs_at",
        "sums of log sigmoid(v m / T) in mpmath at 30 digits",
        compare=_compare_log_probs_at,
        draw=_log_probs_at_inputs,
    )
)
