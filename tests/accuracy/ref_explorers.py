"""References for the explorers' drawing functions (:mod:`icl.explorers`): each draws into the
Figure it is given, so each reference reads the drawn lines' data back and compares them with an
independent computation at the same settings.

- ``one_step_update``: Chapter 1's closed forms in exact rational arithmetic (``fractions``) at
  every drawn point;
- ``chains_update``: the same fixed designs, the typical-design cut and the Bayes risk from the
  singular values of X (not the eigenvalues the explorer uses), the mean's risk by
  :func:`icl.theory.gd_risk_given_spectrum`, the spread by
  :func:`icl.theory.prompt_averaged_chain_terms` on the same designs where no design is left out
  and it answers (inf where it finds that the spread overflows float64), else by
  :func:`icl.theory.chain_risk_terms` at d "sigma points" of the law of X^T y / n
  (:func:`expected_spread`; inf where it finds the chains' moments overflow);
- ``votes_update``: the one-coefficient curves by a finer quadrature of the margin's
  variance-gamma density than the explorer's (600 geometric panels from 1e-13, 24 nodes each,
  confirmed on twice the panels), with the binomial tails from ``scipy.stats.binom``, greedy's
  Student-t tail by mpmath at 30 digits; the whole-vector curves recomputed from the fixed
  prompts.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath as mp
import numpy as np
import torch
from matplotlib.figure import Figure
from scipy import special, stats

from icl import explorers, tasks, theory
from icl.domain import domain_of
from tests.accuracy import Reference, register


def _lines(ax) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """The axes' lines by label (a label may hold several lines)."""
    out: dict[str, list] = {}
    for line in ax.get_lines():
        data = (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
        out.setdefault(line.get_label(), []).append(data)
    return out


def _errors(function, pairs) -> float:
    """The largest error of the (drawn, exact) pairs in units of ``function``'s declared
    accuracy."""
    accuracy = domain_of(function).accuracy
    return max(accuracy.error(np.asarray(v, float), np.asarray(e, float)) for v, e in pairs)


# --- Chapter 1: one step of GD ---


def _one_step_risk(n: int, d: int, sigma2: Fraction, eta: Fraction) -> Fraction:
    return d * (1 - 2 * eta + eta**2 * (n + d + 1 + sigma2) / n)


def _one_step_compare(kwargs, value) -> float:
    n, d = kwargs["n"], kwargs["d"]
    s2 = Fraction(kwargs["sigma2"])
    ax_eta, ax_n = kwargs["fig"].axes
    lines_eta, lines_n = _lines(ax_eta), _lines(ax_n)
    eta_star = Fraction(n) / (n + d + 1 + s2)
    optimal = d * (d + 1 + s2) / (n + d + 1 + s2)
    ((etas, risks),) = lines_eta[r"$R(\eta I)$"]
    pairs = [(risks, [float(_one_step_risk(n, d, s2, Fraction(e))) for e in etas])]
    ((x_star, y_star),) = lines_eta[rf"$\eta^* = {float(eta_star):.3f}$"]
    pairs += [(x_star, [float(eta_star)]), (y_star, [float(optimal)])]
    ((_, prior),) = lines_eta[r"prior, $\eta = 0$: $d$"]
    pairs.append((prior, [d] * len(prior)))
    ((ms, best),) = lines_n[r"optimal step $\eta^*(m)$"]
    pairs.append((best, [float(d * (d + 1 + s2) / (int(m) + d + 1 + s2)) for m in ms]))
    ((ms, fixed),) = lines_n[rf"step fixed at $\eta^*(n = {n})$"]
    pairs.append((fixed, [float(_one_step_risk(int(m), d, s2, eta_star)) for m in ms]))
    return _errors(explorers.one_step_update, pairs)


register(
    Reference(
        "icl.explorers.one_step_update",
        "every drawn point against Chapter 1's closed forms in exact rational arithmetic",
        compare=_one_step_compare,
        cases=(
            {"fig": Figure(), "n": 10**5, "d": 1, "sigma2": 0.0},  # R(eta*) = 2 / (n + 2)
        ),
    )
)


# --- Chapter 3: averages of noisy chains ---


def chain_designs(n: int, d: int) -> torch.Tensor:
    """The explorer's fixed designs, drawn again: ``numpy.random.default_rng(0)``, (512, n, d)."""
    X = np.random.default_rng(0).standard_normal((explorers.CHAIN_PROMPTS, n, d))
    return torch.from_numpy(X)


def expected_spread(X: torch.Tensor, eta: float, delta2: float, steps: int, sigma2: float):
    """E[tr C_T | X] over w ~ N(0, I_d) and the label noise, per design, by
    :func:`icl.theory.chain_risk_terms` at d "sigma points": tr C_T is a quadratic form in
    b = X^T y / n, and b_j = (d mu_j)^(1/2) v_j (v_j the eigenvectors of S, mu_j = s_j^2 + sigma2
    s_j / n) have (1/d) sum_j b_j b_j^T = E[b b^T]; y_j = n X (X^T X)^+ b_j has
    X^T y_j / n = b_j."""
    n, d = X.shape[-2:]
    s, V = torch.linalg.eigh(X.transpose(1, 2) @ X / n)
    mu = (s**2 + sigma2 * s / n).clamp(min=0)
    to_y = n * X @ torch.linalg.pinv(X.transpose(1, 2) @ X)
    total = torch.zeros(X.shape[0], dtype=X.dtype)
    for j in range(d):
        b = (d * mu[:, j]).sqrt()[:, None] * V[:, :, j]
        y = (to_y @ b.unsqueeze(-1))[..., 0]
        zero = torch.zeros_like(b)
        total += theory.chain_risk_terms(X, y, zero, eta=eta, steps=steps, level=delta2**0.5)[1]
    return total / d


def _mean_spread(X: torch.Tensor, eta: float, delta2: float, steps: int, sigma2: float) -> float:
    """The mean over the designs of :func:`expected_spread`; inf where
    :func:`icl.theory.chain_risk_terms` finds that the chains' moments overflow float64 (the spread
    diverges beyond the largest float: the explorer must draw inf there)."""
    try:
        return expected_spread(X, eta, delta2, steps, sigma2).mean().item()
    except ValueError as refusal:
        if "overflow" not in str(refusal):
            raise
        return math.inf


def _chains_compare(kwargs, value) -> float:
    fig, n, d, sigma2 = kwargs["fig"], kwargs["n"], kwargs["d"], kwargs["sigma2"]
    eta, delta2, steps, n_chains = (kwargs[k] for k in ("eta", "delta2", "steps", "n_chains"))
    X = chain_designs(n, d)
    singular = torch.linalg.svdvals(X)  # (designs, min(n, d)), descending
    kept = eta * (singular[:, 0] ** 2 / n + delta2) <= 2
    (ax,) = fig.axes
    if f"{int((~kept).sum())} of {explorers.CHAIN_PROMPTS} designs left out" not in ax.get_title():
        return math.inf
    lines = _lines(ax)
    if not bool(kept.any()):
        return 0.0 if not lines and "every design" in ax.texts[0].get_text() else math.inf
    X, early = X[kept], min(steps, 3)
    s = torch.linalg.eigvalsh(X.transpose(1, 2) @ X / n).clamp(min=0)

    def risk(lam, t):
        """The mean over the kept designs of E[||w_t - w||^2 | X], ridge-GD with penalty lam."""
        return theory.gd_risk_given_spectrum(s, n, eta=eta, steps=t, sigma2=sigma2, lam=lam)

    spread = {early: _mean_spread(X, eta, delta2, early, sigma2)}
    try:
        if not (bool(kept.all()) and eta * delta2 < 1):
            raise ValueError("some designs left out")
        terms = theory.prompt_averaged_chain_terms(
            n, d, sigma2, eta, delta2**0.5, steps, designs=explorers.CHAIN_PROMPTS, seed=0
        )
        spread[steps] = float(terms.trace[steps])
    except ValueError as refusal:
        # its own recursion overflowed: the spread is beyond the floats; else designs are left
        # out, or the design law is outside its domain: the sigma points on the kept designs
        overflow = "overflows" in str(refusal)
        spread[steps] = math.inf if overflow else _mean_spread(X, eta, delta2, steps, sigma2)
    pairs = []
    for n_avg in (1, n_chains):
        for _, drawn in lines[f"average of N = {n_avg}"]:
            exact = [risk(delta2, t).mean().item() + spread[t] / n_avg for t in (early, steps)]
            pairs.append(([drawn[early], drawn[-1]], exact))
    for label, lam in ((r"$N \to \infty$ (ridge-GD iterate)", delta2), ("greedy chain", 0.0)):
        ((_, drawn),) = lines[label]
        pairs.append(
            ([drawn[early], drawn[-1]], [risk(lam, t).mean().item() for t in (early, steps)])
        )
    lam = sigma2 / n
    nonzero = singular[kept] ** 2 / n
    bayes = (lam / (nonzero + lam) if lam > 0 else 0 * nonzero).sum(1) + (d - nonzero.shape[1])
    ((_, drawn_bayes),) = lines[r"Bayes: ridge at $\lambda^*$"]
    pairs.append((drawn_bayes, [bayes.mean().item()] * len(drawn_bayes)))
    return _errors(explorers.chains_update, pairs)


_CHAINS_CASE = {"fig": Figure(), **explorers.CHAINS_DEFAULTS}
register(
    Reference(
        "icl.explorers.chains_update",
        "the drawn curves at an early and the last step against gd_risk_given_spectrum, "
        "chain_risk_terms at sigma points of X^T y / n and prompt_averaged_chain_terms on the "
        "same designs; the typical-design cut and the Bayes risk from the singular values of X",
        compare=_chains_compare,
        cases=(
            {**_CHAINS_CASE, "n": 5, "d": 12, "sigma2": 0.0},  # noiseless, d > n
            {**_CHAINS_CASE, "eta": 0.5},  # the typical-design cut at 2 leaves some designs out
            # n = 1: every fixed design typical, the design law not (the sigma points serve)
            {**_CHAINS_CASE, "n": 1, "d": 2, "sigma2": 9.3, "eta": 0.063, "delta2": 2.0},
            # the spread overflows float64 by T = 1000 (eta^2 delta2^2 (d + 1) = 2.6): drawn inf
            {
                **_CHAINS_CASE,
                "n": 4,
                "d": 10,
                "sigma2": 1e-8,
                "eta": 0.336,
                "delta2": 1.436,
                "steps": 1000,
            },
        ),
    )
)


# --- Chapter 5: majority vote and pass@N ---


def _vote_accuracy(p: np.ndarray, N: int) -> np.ndarray:
    """P(Bin(N, p) > N/2) from scipy's binomial law, plus half the tie probability
    C(N, N/2) (p (1 - p))^(N/2) in log-space for N even."""
    p = np.asarray(p, dtype=float)
    out = stats.binom.sf(N // 2, N, p)
    if N % 2:
        return out
    half = N // 2
    with np.errstate(divide="ignore"):
        log_tie = (
            special.gammaln(N + 1)
            - 2 * special.gammaln(half + 1)
            + half * (np.log(p) + np.log1p(-p))
        )
    return out + 0.5 * np.exp(log_tie)


_GL24 = np.polynomial.legendre.leggauss(24)


def _margin_expectation(g, n: int, d: int, sigma2: float, panels: int = 600) -> float:
    """E[g(u)] under the margin's variance-gamma density f (``g`` vectorised): a 24-node
    Gauss-Legendre rule on ``panels`` geometric panels of |u| in [1e-13, n + 80 sqrt(n (2 +
    s2))] on each side of 0 (log K_nu by scipy's ``kve``, and its exact small-argument limit
    log(Gamma(nu) 2^(nu - 1) x^-nu) where ``kve`` overflows), computed again on twice the panels;
    the two must agree to 1e-11, else the reference refuses (``ArithmeticError``). The mass
    below 1e-13 (at most about 1e-12, for n = 1 where f has a log singularity) is left out."""
    s2 = d - 1 + sigma2
    lam, alpha, beta = n / 2, math.sqrt(1 + s2) / s2, 1 / s2
    nu = lam - 0.5
    with mp.workdps(30):
        log_c = float(
            lam * mp.log(mp.mpf(alpha) ** 2 - mp.mpf(beta) ** 2)
            - mp.log(mp.pi) / 2
            - mp.loggamma(lam)
            - nu * mp.log(2 * mp.mpf(alpha))
        )

    def expectation(count: int) -> float:
        edges = np.geomspace(1e-13, n + 80 * math.sqrt(n * (2 + s2)), count + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        a = ((hi + lo) / 2 + (hi - lo) / 2 * _GL24[0]).ravel()
        weight = ((hi - lo) / 2 * _GL24[1]).ravel()
        x = alpha * a
        with np.errstate(divide="ignore", over="ignore"):
            log_k = np.log(special.kve(nu, x)) - x
        overflow = ~np.isfinite(log_k)
        if overflow.any():
            log_k[overflow] = (
                special.gammaln(nu) + (nu - 1) * math.log(2) - nu * np.log(x[overflow])
            )
        body = log_c + nu * np.log(a) + log_k
        return float(weight @ (g(a) * np.exp(body + beta * a) + g(-a) * np.exp(body - beta * a)))

    coarse, fine = expectation(panels), expectation(2 * panels)
    if abs(coarse - fine) > 1e-11:
        raise ArithmeticError(f"the reference quadrature has not converged: {coarse} vs {fine}")
    return fine


def _votes_compare(kwargs, value) -> float:
    fig, n, d, sigma2 = kwargs["fig"], kwargs["n"], kwargs["d"], kwargs["sigma2"]
    temperature = kwargs["temperature"]
    c = 2 * explorers.VOTE_ETA / (n * temperature)
    ax_one, ax_all = fig.axes
    lines_one, lines_all = _lines(ax_one), _lines(ax_all)
    ((grid, votes),) = lines_one["majority vote of N"]
    pairs = []
    for i in sorted({0, len(grid) - 1}):
        N = int(grid[i])
        exact = _margin_expectation(
            lambda v, N=N: _vote_accuracy(special.expit(c * v), N), n, d, sigma2
        )
        pairs.append(([votes[i]], [exact]))
    ((_, one),) = lines_one["one sample"]
    one_exact = _margin_expectation(lambda v: special.expit(c * v), n, d, sigma2)
    pairs.append((one, [one_exact] * len(one)))
    s2 = d - 1 + sigma2
    with mp.workdps(30):  # P(t_n <= sqrt(n / s2)) = 1 - I_{s2 / (s2 + 1)}(n / 2, 1 / 2) / 2
        greedy_exact = float(
            1 - mp.betainc(mp.mpf(n) / 2, 0.5, 0, s2 / (s2 + 1), regularized=True) / 2
        )
    ((_, greedy),) = lines_one["greedy"]
    pairs.append((greedy, [greedy_exact] * len(greedy)))
    p = tasks.sample_prompts(
        explorers.VOTE_PROMPTS,
        n,
        d,
        prior="rademacher",
        sigma2=sigma2,
        generator=torch.Generator().manual_seed(0),
        device="cpu",
        dtype=torch.float64,
    )
    right = special.expit(c * (p.w * torch.einsum("bnd,bn->bd", p.X, p.y)).numpy())
    q = right.prod(1)
    ((grid_all, passes),) = lines_all["pass@N (perfect verifier)"]
    ((_, vote_all),) = lines_all["coordinate-wise vote of N"]
    for i in sorted({0, len(grid_all) - 1}):
        N = int(grid_all[i])
        with np.errstate(divide="ignore"):  # q = 1: log1p(-1) = -inf, pass@N = 1
            pass_exact = float(np.mean(-np.expm1(N * np.log1p(-q))))
        pairs.append(([passes[i]], [pass_exact]))
        pairs.append(([vote_all[i]], [float(_vote_accuracy(right, N).prod(1).mean())]))
    ((_, one_all),) = lines_all["one sample"]
    pairs.append((one_all, [float(q.mean())] * len(one_all)))
    ((_, greedy_all),) = lines_all["greedy"]
    recovery = explorers._greedy_exact_recovery(n, d, sigma2)  # theory.greedy_exact_recovery
    pairs.append((greedy_all, [recovery] * len(greedy_all)))
    return _errors(explorers.votes_update, pairs)


register(
    Reference(
        "icl.explorers.votes_update",
        "the one-coefficient curves by a finer, self-confirmed quadrature of the variance-gamma "
        "density with scipy's binomial tails, greedy's Student-t tail by mpmath; the "
        "whole-vector curves recomputed from the fixed prompts",
        compare=_votes_compare,
        cases=(
            {
                "fig": Figure(),
                "n": 2,
                "d": 30,
                "sigma2": 0.0,
                "temperature": 1e-3,
                "n_votes": 10**4,
            },
            {
                "fig": Figure(),
                "n": 100,
                "d": 30,
                "sigma2": 10.0,
                "temperature": 0.01,
                "n_votes": 1000,
            },
        ),
    )
)
