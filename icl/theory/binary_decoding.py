r"""Chapters 5 and 6: decoding binary coefficients token by token, majority votes and pass@k.

Chapter 5's setting: :math:`w` uniform on :math:`\{-1, +1\}^d`, :math:`x \sim N(0, I_d)`, label
noise variance ``sigma2``, and the one-step estimate :math:`\hat w = \eta X^\top y / n`.
Decoding coefficient :math:`j` at temperature :math:`T` gives it the two logits
:math:`\pm \hat w_j / T`, so a sampled coefficient is :math:`+1` with probability
:math:`\operatorname{sigmoid}(2 \hat w_j / T)`; greedy decoding takes
:math:`\operatorname{sign}(\hat w_j)`.

With :math:`s_2 = d - 1 + \sigma^2` and :math:`u = x_{\cdot j}^\top y \, w_j` (so that
:math:`\hat w_j w_j = \eta u / n`):

- conditioning on the column :math:`x_{\cdot j}`, :math:`u = |x_{\cdot j}|^2 + |x_{\cdot j}|
  \sqrt{s_2} Z`, hence :math:`P(\operatorname{sign} \hat w_j \ne w_j) = P(t_n > \sqrt{n /
  s_2})`, a Student-t tail with :math:`n` degrees of freedom (:func:`greedy_sign_error`);
- :math:`u` has the moment generating function :math:`(1 - 2t - s_2 t^2)^{-n/2}`, a
  variance-gamma law with :math:`\lambda = n/2`, :math:`\alpha = \sqrt{1 + s_2}/s_2`,
  :math:`\beta = 1/s_2` (:func:`margin_density`);
- one sample at temperature :math:`T` errs with probability
  :math:`\mathbb{E}[\operatorname{sigmoid}(-2 \eta u / (n T))]` (:func:`sampled_sign_error`);
- a majority vote of :math:`N` samples of one coefficient is right with probability
  :math:`\mathbb{E}[A_N(\operatorname{sigmoid}(2 \eta u / (n T)))]` (:func:`vote_sign_accuracy`),
  where :math:`A_N(p)` is :func:`majority_vote_accuracy`;
- the margin density is tilted by its own reflection, :math:`f(-u) = \exp(-2u/s_2) f(u)`, so the
  linear decoder is exactly calibrated at :math:`T_{\mathrm{cal}} = \eta s_2 / n`:
  :math:`P(w_j = +1 \mid \hat w_j) = \operatorname{sigmoid}(2 \hat w_j / T_{\mathrm{cal}})`
  (:func:`calibration_temperature`);
- given :math:`y`, the :math:`d` margins are jointly Gaussian with equal correlation
  :math:`-1/s_2`, so greedy recovers the whole vector with an orthant probability averaged over
  :math:`\|y\|^2` (:func:`greedy_exact_recovery`).

Votes over more than two answers (:func:`plurality_vote_accuracy`), the unbiased pass@k
estimator (:func:`unbiased_pass_at_k`; :func:`pass_at_k` is its former name) and the normal
approximation to the votes a margin needs (:func:`votes_needed`) serve Chapters 5 to 7.
:func:`majority_vote_accuracy` and :func:`unbiased_pass_at_k` are elementwise and also take torch
tensors (Chapter 7's per-prompt answer distributions), returning a tensor on the same device.

**Numerics.** The margin density is evaluated in logs: for :math:`n \ge 51` through the uniform
asymptotic (Debye) expansion of :math:`K_\nu(\nu z)`, rearranged about the density's peak so
that terms of size :math:`n` cancel analytically (relative error about :math:`10^{-16}
(\sqrt n + |\log f|)`); for smaller :math:`n` through scipy's exponentially scaled ``kve``.
Expectations over the margin are integrals over :math:`u > 0` of :math:`f(u) g(u) + f(-u) g(-u)
= f(u) (g(u) + e^{-2u/s_2} g(-u))`, each term unimodal: its peak and the points where it has
fallen by :math:`e^1, e^4, \dots, e^{800}` are located first and given to an adaptive
Gauss-Kronrod rule as panel edges, so that the mass is found at every :math:`n` (the density
concentrates as :math:`n` grows) and the result is relatively accurate however small it is.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
import torch
from scipy import special, stats

from icl.domain import Accuracy, Choice, Condition, Given, Integer, Real, declare
from icl.validation import array, probabilities

TIE_RULES = ("uniform", "lose", "smallest")


def _as_arrays(*values):
    """``values`` as numpy arrays, and a function giving a result back in their kind.

    Back: a float for scalars, an array for arrays, and a tensor on the inputs' device
    if any input is a tensor (of that tensor's dtype if floating, else float64).
    """
    tensor = next((v for v in values if torch.is_tensor(v)), None)
    arrays = [np.asarray(v.detach().cpu() if torch.is_tensor(v) else v) for v in values]

    def back(result):
        result = np.asarray(result, dtype=float)
        if tensor is not None:
            dtype = tensor.dtype if tensor.dtype.is_floating_point else torch.float64
            return torch.as_tensor(result, device=tensor.device).to(dtype)
        return float(result) if result.ndim == 0 else result

    return arrays, back


def _spread(d: int, sigma2: float) -> float:
    return d - 1 + sigma2


# The model's arguments, shared by the closed forms of one coefficient's margin.
_N = Integer(1, 10**8)
_D = Integer(1, 10**9)
_SIGMA2 = Real(0.0, 1e12)
_ETA = Real(0.0, 1e100, open_low=True)
_TEMPERATURE = Real(0.0, 1e100, open_low=True)
_S2_POSITIVE = Condition(
    "d >= 2 or sigma2 >= 1e-100 (s2 = d - 1 + sigma2 > 0: otherwise u is chi-square)",
    lambda d, sigma2: d >= 2 or sigma2 >= 1e-100,
    {"d": 1, "sigma2": 0.0},
)
_S2_ZERO_OR_POSITIVE = Condition(
    "d >= 2 or sigma2 = 0 or sigma2 >= 1e-100",
    lambda d, sigma2: d >= 2 or sigma2 == 0 or sigma2 >= 1e-100,
    {"d": 1, "sigma2": 1e-200},
)


# ---------------------------------------------------------------------------------------------
# log K_nu by the uniform asymptotic expansion, and Stirling's series


def _debye_polynomials(count: int) -> list[list[Fraction]]:
    """Coefficients (ascending powers of p) of Debye's polynomials u_0 .. u_{count-1}:
    u_0 = 1, u_{k+1}(p) = p^2 (1 - p^2) u_k'(p) / 2 + int_0^p (1 - 5 t^2) u_k(t) dt / 8
    (DLMF 10.41.9), in exact rational arithmetic."""
    polys = [[Fraction(1)]]
    for _ in range(count - 1):
        u = polys[-1]
        new = [Fraction(0)] * (len(u) + 3)
        for i, c in enumerate(u):
            if i:
                new[i + 1] += i * c / 2
                new[i + 3] -= i * c / 2
            new[i + 1] += c / (8 * (i + 1))
            new[i + 3] -= 5 * c / (8 * (i + 3))
        polys.append(new)
    return polys


_DEBYE_FROM = 25.0  # orders nu >= this use the uniform expansion (n >= 51)
_DEBYE = _debye_polynomials(16)
# max over p in [0, 1] of |u_k(p)|, on a fine grid: the size of the k-th term times nu^k
_DEBYE_SIZE = [
    float(
        np.abs(
            np.polynomial.polynomial.polyval(np.linspace(0, 1, 4001), [float(c) for c in u])
        ).max()
    )
    for u in _DEBYE
]


def _debye_series(nu: float) -> list[float]:
    """Coefficients (descending powers of p) of S(p) = sum_{k<K} (-1)^k u_k(p) / nu^k, with K the
    fewest terms whose first omitted one is below 1e-17 (at most 15 terms for nu >= 25)."""
    terms = next(k for k in range(1, len(_DEBYE)) if _DEBYE_SIZE[k] / nu**k < 1e-17)
    coefficients = np.zeros(3 * terms - 2)
    for k in range(terms):
        for j, c in enumerate(_DEBYE[k]):
            if c:
                coefficients[j] += (-1) ** k * float(c) / nu**k
    return [float(c) for c in coefficients[::-1]]


def _bernoulli(count: int) -> list[Fraction]:
    """B_0 .. B_{count-1} (B_1 = -1/2), exactly, by the recurrence sum_k C(m+1, k) B_k = 0."""
    b = [Fraction(1)]
    for m in range(1, count):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return b


_B = _bernoulli(16)
# lgamma(x) - ((x - 1/2) log x - x + log(2 pi)/2) = sum_k B_2k / (2k (2k - 1) x^(2k - 1))
_STIRLING = [float(_B[2 * k] / (2 * k * (2 * k - 1))) for k in range(1, 8)]
# lgamma(x + 1/2) - (x log x - x + log(2 pi)/2) = sum_k B_2k(1/2) / (2k (2k - 1) x^(2k - 1)),
# B_2k(1/2) = (2^(1 - 2k) - 1) B_2k
_STIRLING_HALF = [
    float((Fraction(2) ** (1 - 2 * k) - 1) * _B[2 * k] / (2 * k * (2 * k - 1))) for k in range(1, 8)
]


def _stirling_tail(x: float, series: list[float]) -> float:
    """sum_k series[k] / x^(2k + 1), for x >= 25 (terms below 1e-21 relative at the seventh)."""
    inverse = 1 / x
    square = inverse * inverse
    total = 0.0
    for c in reversed(series):
        total = total * square + c
    return total * inverse


def _log_gamma_correction(k: float) -> float:
    """lgamma(k) - ((k - 1/2) log k - k + log(2 pi) / 2), accurate for every k > 0."""
    if k >= _DEBYE_FROM:
        return _stirling_tail(k, _STIRLING)
    return math.lgamma(k) - ((k - 0.5) * math.log(k) - k + 0.5 * math.log(2 * math.pi))


# ---------------------------------------------------------------------------------------------
# the margin law


def _kve_large(nu: float, x):
    """K_nu(x) e^x for x > 10^6 and nu < 25 by Hankel's expansion sqrt(pi / (2x)) sum_k
    prod_{j<=k} (4 nu^2 - (2j - 1)^2) / (k! (8x)^k) (six terms: the seventh is below 1e-25
    relative; scipy's ``kve`` returns NaN for x beyond about 10^9)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.ones_like(x)
        total = np.ones_like(x)
        for j in range(1, 7):
            term = term * (4 * nu * nu - (2 * j - 1) ** 2) / (j * 8 * x)
            total = total + term
        out = np.sqrt(np.pi / (2 * x)) * total
    return float(out) if out.ndim == 0 else out


class _MarginLaw:
    """The law of the margin u = w_j x_{.j}^T y: log f(a) for a >= 0 (scalar and vectorised), and
    f(-a) = exp(-2a/s2) f(a). s2 = 0 (d = 1, sigma2 = 0) is the chi-square law with n degrees of
    freedom (f(-a) = 0).

    Three forms of log f(a), by regime:

    - s2 = 0: with k = n/2, r = a/n, log f = k (log r - r + 1) - log r - log 2 - log(2 pi k)/2
      - c(k), c(k) = lgamma(k) - (k - 1/2) log k + k - log(2 pi)/2 (Stirling's series for k >= 25):
      no term of size n is left to cancel;
    - s2 > 0, nu = (n - 1)/2 < 25: f = (alpha^2 - beta^2)^lam a^nu K_nu(alpha a) e^(beta a) /
      (sqrt(pi) Gamma(lam) (2 alpha)^nu) with K_nu from scipy's ``kve`` (its small-argument
      form Gamma(nu) 2^(nu - 1) x^(-nu), exact to O(x^2 / nu), below 1e-20 relative, where ``kve``
      overflows; Hankel's expansion beyond x = 10^6, ``_kve_large``);
    - s2 > 0, nu >= 25: K_nu(nu z) ~ sqrt(pi / (2 nu)) e^(-nu eta(z)) (1 + z^2)^(-1/4) S(p),
      p = 1/q, q = sqrt(1 + z^2), S the Debye series (DLMF 10.41.4), with z = alpha a / nu. In
      terms of b = beta / alpha = 1/sqrt(1 + s2) and the peak z* = 2 alpha (q* = 1 + 2/s2):
      log f = nu E(z) - log(4 pi nu)/2 - c_half(nu) - log(s2)/2 - log(q)/2 + log S(p), with
      E(z) = log1p(delta / (1 + q*)) + dz ((1 - r) - (1 - b)), dz = z - z*,
      delta = q - q* = dz (z + z*) / (q + q*), 1 - r = (1/(q + z) + 1/(q* + z*)) / (q + q*),
      c_half(nu) = lgamma(nu + 1/2) - nu log nu + nu - log(2 pi)/2 (Stirling's series).
      E vanishes to second order at the peak and each of its terms is computed with relative
      accuracy, so the density is relatively accurate to about 1e-16 (sqrt(n) + |log f|).
    """

    def __init__(self, n: int, d: int, sigma2: float):
        s2 = _spread(d, sigma2)
        self.n, self.s2 = n, s2
        self.reflect = 2 / s2 if s2 > 0 else math.inf
        lam = n / 2
        nu = lam - 0.5
        self.nu = nu
        sd = math.sqrt(n * (2 + s2))
        self.scales = [sd, 1 + math.sqrt(1 + s2)]
        self.bulk = [n + k * sd for k in (-30, -8, -2, 0, 2, 8, 30) if n + k * sd > 0]
        self.far = n + 80 * sd + 2000 * (1 + math.sqrt(1 + s2))
        if s2 == 0:
            self.kind = "chi2"
            self.log_const = (
                -math.log(2) - 0.5 * math.log(2 * math.pi * lam) - _log_gamma_correction(lam)
            )
            return
        alpha, beta = math.sqrt(1 + s2) / s2, 1 / s2
        self.alpha = alpha
        self.scales += [s2 / 2, math.sqrt(nu + 1) / alpha]
        if nu >= _DEBYE_FROM:
            self.kind = "debye"
            self.series = _debye_series(nu)
            self.peak = 2 * alpha  # z* (the density's peak, u = 2 nu = n - 1, in z = alpha u / nu)
            self.q_peak = 1 + 2 / s2
            root = math.sqrt(1 + s2)
            self.one_minus_b = s2 / (root * (1 + root))
            self.peak_term = 1 / (self.q_peak + self.peak)
            self.log_const = (
                -0.5 * math.log(4 * math.pi * nu)
                - _stirling_tail(nu, _STIRLING_HALF)
                - 0.5 * math.log(s2)
            )
            return
        self.kind = "bessel"
        self.rate = -1 / (1 + math.sqrt(1 + s2))  # beta - alpha
        self.beta = beta
        self.log_const = (
            -0.5 * math.log(s2)
            - nu * math.log(2 * math.sqrt(1 + s2))
            - 0.5 * math.log(math.pi)
            - math.lgamma(lam)
        )
        # log of f's small-argument form, minus beta a: the density at a = 0 (nu > 0)
        self.log_small = (
            self.log_const + math.lgamma(nu) + (nu - 1) * math.log(2) - nu * math.log(alpha)
            if nu > 0
            else math.inf
        )

    def log_at(self, a: float) -> float:
        """log f(a) for one float a >= 0, in scalar arithmetic (quadratures call it ~10^5 times)."""
        if self.kind == "debye":
            z = self.alpha * a / self.nu
            if z == math.inf:
                return -math.inf
            q = math.hypot(1.0, z)
            dz = z - self.peak
            delta = dz * (z + self.peak) / (q + self.q_peak)
            one_minus_r = (1 / (q + z) + self.peak_term) / (q + self.q_peak)
            # numpy's log1p, as in :meth:`log`: the two paths then agree to a few ulps of log f
            e = float(np.log1p(delta / (1 + self.q_peak))) + dz * (one_minus_r - self.one_minus_b)
            p = 1 / q
            s = 0.0
            for c in self.series:
                s = s * p + c
            return self.nu * e + self.log_const - 0.5 * math.log(q) + math.log(s)
        if self.kind == "bessel":
            if a == 0:
                return self.log_small
            x = self.alpha * a
            if x == math.inf:
                return -math.inf
            k = _kve_large(self.nu, x) if x > 1e6 else special.kve(self.nu, x)
            if math.isfinite(k) and k > 0:
                return self.log_const + self.nu * math.log(a) + math.log(k) + self.rate * a
            return self.log_small + self.beta * a
        if a == 0:
            return {1: math.inf, 2: -math.log(2)}.get(self.n, -math.inf)
        r = a / self.n
        log_r = math.log1p(r - 1) if 0.5 <= r <= 2 else math.log(r)
        return self.n / 2 * (log_r - (r - 1)) - log_r + self.log_const

    def log(self, a: np.ndarray) -> np.ndarray:
        """log f(a) for an array of a >= 0 (the same forms as :meth:`log_at`, vectorised)."""
        a = np.asarray(a, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            if self.kind == "debye":
                z = self.alpha * a / self.nu
                q = np.hypot(1.0, z)
                dz = z - self.peak
                delta = dz * (z + self.peak) / (q + self.q_peak)
                one_minus_r = (1 / (q + z) + self.peak_term) / (q + self.q_peak)
                e = np.log1p(delta / (1 + self.q_peak)) + dz * (one_minus_r - self.one_minus_b)
                s = np.polyval(self.series, 1 / q)
                out = self.nu * e + self.log_const - 0.5 * np.log(q) + np.log(s)
                return np.where(np.isinf(z), -np.inf, out)
            if self.kind == "bessel":
                x = self.alpha * a
                k = np.where(
                    x > 1e6, _kve_large(self.nu, x), special.kve(self.nu, np.minimum(x, 1e6))
                )
                direct = self.log_const + self.nu * np.log(a) + np.log(k) + self.rate * a
                small = self.log_small + self.beta * a
                out = np.where(np.isfinite(k) & (k > 0), direct, small)
                out = np.where(a == 0, self.log_small, out)
                return np.where(np.isinf(x), -np.inf, out)
            r = a / self.n
            log_r = np.where((r >= 0.5) & (r <= 2), np.log1p(r - 1), np.log(r))
            out = self.n / 2 * (log_r - (r - 1)) - log_r + self.log_const
            at_zero = {1: math.inf, 2: -math.log(2)}.get(self.n, -math.inf)
            return np.where(a == 0, at_zero, out)

    def density_at(self, u: float) -> float:
        a = abs(u)
        log_f = self.log_at(a)
        if u < 0:
            log_f -= self.reflect * a
        return math.exp(log_f) if log_f < 709.78 else math.inf

    def density(self, u: np.ndarray) -> np.ndarray:
        a = np.abs(u)
        log_f = self.log(a) - np.where(u < 0, self.reflect * a, 0.0)
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(log_f)


# ---------------------------------------------------------------------------------------------
# integrals of unimodal positive functions, given in logs

# Gauss-Kronrod 7-15 on [-1, 1] (QUADPACK's qk15); the Gauss nodes are the odd-indexed ones
_KRONROD_X = np.array(
    [
        0.991455371120812639206854697526329,
        0.949107912342758524526189684047851,
        0.864864423359769072789712788640926,
        0.741531185599394439863864773280788,
        0.586087235467691130294144845693013,
        0.405845151377397166906606412076961,
        0.207784955007898467600689403773245,
    ]
)
_KRONROD_X = np.concatenate([-_KRONROD_X, [0.0], _KRONROD_X[::-1]])
_KRONROD_W = np.array(
    [
        0.022935322010529224963732008058970,
        0.063092092629978553290700663189204,
        0.104790010322250183839876322541518,
        0.140653259715525918745189590510238,
        0.169004726639267902826583426598550,
        0.190350578064785409913256402421014,
        0.204432940075298892414161999234649,
    ]
)
_KRONROD_W = np.concatenate([_KRONROD_W, [0.209482141084727828012999174891714], _KRONROD_W[::-1]])
_GAUSS_W = np.array(
    [
        0.129484966168869693270611432679082,
        0.279705391489276667901467771423780,
        0.381830050505118944950369775488975,
        0.417959183673469387755102040816327,
        0.381830050505118944950369775488975,
        0.279705391489276667901467771423780,
        0.129484966168869693270611432679082,
    ]
)


def _kronrod(
    log_phi, edges: np.ndarray, shift: float, rtol: float, atol: float = 0.0, rounds: int = 40
) -> float:
    """int exp(log_phi(x) - shift) dx over [edges[0], edges[-1]] for a positive integrand.

    Gauss-Kronrod 7-15 on every panel (``log_phi`` vectorised: one call per round for all
    panels); a panel is kept when its error estimate (QUADPACK's) is below its share of
    max(``rtol`` times the total, ``atol``), or below the round-off of its integrand, taken as
    1e-15 |log_phi| relative (log_phi is a sum of terms of that size); the others are bisected,
    for at most ``rounds`` rounds or 2^15 panels.
    """
    lo, hi = edges[:-1], edges[1:]
    done_value = done_error = 0.0
    value = 0.0
    for _ in range(rounds):
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        x = centre[:, None] + half[:, None] * _KRONROD_X
        logs = log_phi(x.ravel()).reshape(x.shape)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            f = np.exp(logs - shift)
        f = np.where(np.isnan(f), 0.0, f)
        kronrod = half * (f @ _KRONROD_W)
        gauss = half * (f[:, 1::2] @ _GAUSS_W)
        resasc = half * (np.abs(f - (f @ _KRONROD_W / 2)[:, None]) @ _KRONROD_W)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scaled = np.minimum(1.0, (200 * np.abs(kronrod - gauss) / resasc) ** 1.5)
            noise = 1e-15 * np.max(np.where(f > 0, np.abs(logs), 0.0), axis=1) * kronrod
        error = np.where(resasc > 0, resasc * scaled, np.abs(kronrod - gauss))
        value = done_value + float(kronrod.sum())
        budget = max(rtol * value, atol) - done_error
        if float(error.sum()) <= budget or lo.size > 2**15:
            return value
        accept = (error <= max(budget, 0.0) / (2 * error.size)) | (error <= noise)
        if accept.all():
            return value
        done_value += float(kronrod[accept].sum())
        done_error += float(error[accept].sum())
        lo, hi, centre = lo[~accept], hi[~accept], centre[~accept]
        lo, hi = np.concatenate([lo, centre]), np.concatenate([centre, hi])
    return value


_DROPS = np.array([1.0, 4.0, 16.0, 48.0, 128.0, 320.0, 800.0])


def _panels(
    log_phi,
    lo: float,
    hi: float,
    points=(),
    ladder: int = 241,
    zoom_tol: float = 1e-6,
    bisections: int = 24,
    ladder_edges: bool = True,
) -> tuple[float, np.ndarray]:
    """The peak value and panel edges for the integral over (0, inf) of exp(log_phi(a)), a
    positive function, unimodal on (0, inf), whose values beyond ``hi`` are negligible;
    ``log_phi`` is vectorised; ``points`` are places where it changes fast.

    The peak is located on a geometric ladder from ``lo`` to ``hi`` (with ``points``), refined by
    zooming (to ``zoom_tol`` relative); then, on each side, the points where log_phi has fallen
    by 1, 4, ..., 800 below its peak, by bisection. These, the ladder in between and ``points``
    are the edges (the ladder only if ``ladder_edges``); beyond the falls of 800 the function is
    below e^-800 of its peak (a relative 1e-300 of the integral) and is left out. Returns
    (-inf, ...) if the function vanishes on the ladder.
    """
    extra = [p for p in points if lo < p < hi and math.isfinite(p)]
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, ladder), extra]))
    values = log_phi(grid)
    i = int(np.argmax(values))
    top, mode = float(values[i]), float(grid[i])
    if top == -math.inf:
        return top, np.array([0.0, hi])
    if i > 0:
        left, right = grid[i - 1], grid[min(i + 1, grid.size - 1)]
        for _ in range(40):
            zoom = np.linspace(left, right, 17)
            zoom_values = log_phi(zoom)
            j = int(np.argmax(zoom_values))
            if zoom_values[j] > top:
                top, mode = float(zoom_values[j]), float(zoom[j])
            left, right = zoom[max(j - 1, 0)], zoom[min(j + 1, 16)]
            if right - left <= zoom_tol * right:
                break
    levels = top - _DROPS
    edges = [0.0, mode, *extra, *(grid if ladder_edges else ())]
    ends = [0.0, hi]
    for side in (-1, 1):
        inside, outside, found = [], [], []
        for level in levels:
            beyond = np.nonzero((values < level) & ((grid > mode) if side > 0 else (grid < mode)))[
                0
            ]
            if beyond.size == 0:
                continue
            j = beyond[0] if side > 0 else beyond[-1]
            near = grid[j - side] if 0 <= j - side < grid.size else mode
            inside.append(mode if (near - mode) * side < 0 else near)
            outside.append(grid[j])
            found.append(level)
        if not found:
            continue
        inside, outside, found = np.array(inside), np.array(outside), np.array(found)
        for _ in range(bisections):
            geometric = (np.minimum(inside, outside) > 0) & (
                np.maximum(inside, outside) > 4 * np.minimum(inside, outside)
            )
            middle = np.where(geometric, np.sqrt(np.abs(inside * outside)), (inside + outside) / 2)
            above = log_phi(middle) >= found
            inside, outside = np.where(above, middle, inside), np.where(above, outside, middle)
        edges += list(outside)
        if found[-1] == levels[-1]:
            ends[0 if side < 0 else 1] = float(outside[-1])
    return top, np.unique(np.clip(np.array(edges), ends[0], ends[1]))


def _log_integrals(functions, lo: float, hi: float, points=(), rtol: float = 1e-12, **ladder):
    """log of int_0^inf exp(phi(a)) da summed over ``functions`` (each as for :func:`_panels`):
    a first pass without refinement estimates each term, so that each is then integrated to
    ``rtol`` times their sum (a term far below the others needs no relative accuracy)."""
    setups = [(phi, *_panels(phi, lo, hi, points, **ladder)) for phi in functions]
    setups = [(phi, top, edges) for phi, top, edges in setups if top > -math.inf]
    if not setups:
        return -math.inf
    rough = [
        top + math.log(max(_kronrod(phi, e, top, 1.0, rounds=1), 1e-300)) for phi, top, e in setups
    ]
    total = max(rough) + math.log(sum(math.exp(v - max(rough)) for v in rough))
    logs = []
    for phi, top, edges in setups:
        atol = rtol * math.exp(min(total - top, 700.0))
        integral = _kronrod(phi, edges, top, rtol, atol)
        if integral > 0:
            logs.append(top + math.log(integral))
    if not logs:
        return -math.inf
    return max(logs) + math.log(sum(math.exp(v - max(logs)) for v in logs))


def _expectation(law: _MarginLaw, plus, minus, points=()) -> float:
    """E[g(u)] = int_0^inf f(a) g(a) da + int_0^inf f(a) e^{-2a/s2} g(-a) da, from the logs of the
    two integrands' factors ``plus(a)`` = log g(a) and ``minus(a)`` = log g(-a) (vectorised)."""
    scales = [s for s in (*law.scales, *points) if 0 < s < math.inf]
    functions = [lambda a: law.log(a) + plus(a)]
    if law.s2 > 0:
        functions.append(lambda a: law.log(a) - law.reflect * a + minus(a))
    value = _log_integrals(functions, 1e-10 * min(scales), law.far, (*points, *law.bulk))
    return math.exp(value) if value > -math.inf else 0.0


# ---------------------------------------------------------------------------------------------
# one coefficient: greedy, the margin density, one sample, a vote, calibration


def _greedy_sign_error(n: int, s2: float) -> float:
    """P(t_n > sqrt(n / s2)) = I_z(n/2, 1/2) / 2, z = n / (n + n/s2) = s2 / (1 + s2); for z > 1/2
    as (1 - I_{1-z}(1/2, n/2)) / 2 with 1 - z = 1 / (1 + s2) (z itself would round away the
    distance to 1 that the value depends on)."""
    if s2 == 0:
        return 0.0
    if s2 <= 1:
        return 0.5 * float(special.betainc(n / 2, 0.5, s2 / (1 + s2)))
    return 0.5 * float(special.betaincc(0.5, n / 2, 1 / (1 + s2)))


@declare(
    Accuracy(
        relative=1e-12,
        absolute=1e-300,
        note="scipy's regularised incomplete beta function; values below 1e-300 may underflow",
    ),
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    where=[_S2_ZERO_OR_POSITIVE],
)
def greedy_sign_error(n: int, d: int, sigma2: float) -> float:
    r"""Probability that greedy decoding gets the sign of one coefficient wrong.

    :math:`P(\operatorname{sign}(\hat w_j) \ne w_j)` for the Rademacher prior, any :math:`\eta > 0`.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^8`.
    d : int
        Dimension, :math:`1 \le d \le 10^9`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`; with :math:`d = 1`, either 0 or at
        least :math:`10^{-100}`.

    Returns
    -------
    error : float
        :math:`P(t_n > \sqrt{n / (d - 1 + \sigma^2)})`. With :math:`d = 1` and :math:`\sigma^2 = 0`
        the estimate is never wrong: the result is 0.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        P(\operatorname{sign}(\hat w_j) \ne w_j) = P\big(t_n > \sqrt{n / (d - 1 + \sigma^2)}\big),

    :math:`t_n` Student's t with :math:`n` degrees of freedom; exact for every finite :math:`n, d`,
    computed as :math:`I_{s_2/(1+s_2)}(n/2, 1/2) / 2` (:math:`s_2 = d - 1 + \sigma^2`; through the
    complement :math:`1 / (1 + s_2)` when :math:`s_2 > 1`), relatively accurate however small.
    """
    return _greedy_sign_error(n, _spread(d, sigma2))


@declare(
    Accuracy(
        relative=1e-10,
        absolute=1e-300,
        note="log-space forms (see the module's Numerics); densities below 1e-300 may underflow",
    ),
    u=Real(array=True),
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    where=[_S2_POSITIVE],
)
def margin_density(u, n: int, d: int, sigma2: float):
    r"""Density of the margin :math:`u = w_j x_{\cdot j}^\top y`.

    The margin is such that :math:`w_j \hat w_j = \eta u / n`.

    Parameters
    ----------
    u : float or array_like
        Where to evaluate, a scalar or an array of finite reals.
    n : int
        Number of examples, :math:`1 \le n \le 10^8`.
    d : int
        Dimension, :math:`1 \le d \le 10^9`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`;
        :math:`s_2 = d - 1 + \sigma^2 > 0` (:math:`d \ge 2`, or :math:`\sigma^2 \ge 10^{-100}` when
        :math:`d = 1`: otherwise :math:`u` is chi-square).

    Returns
    -------
    density : float or numpy.ndarray
        :math:`f(u)`, of the shape of ``u``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    Variance-gamma:

    .. math::

        f(u) = \frac{(\alpha^2 - \beta^2)^\lambda |u|^{\lambda - 1/2} K_{\lambda - 1/2}(\alpha |u|)
            e^{\beta u}}{\sqrt\pi \, \Gamma(\lambda) (2 \alpha)^{\lambda - 1/2}},

    :math:`\lambda = n/2`, :math:`\alpha = \sqrt{1 + s_2}/s_2`, :math:`\beta = 1/s_2`,
    :math:`s_2 = d - 1 + \sigma^2`. Evaluated in logs (see the module's Numerics), so that it stays
    right where :math:`K_\nu` over- or underflows (large :math:`n`, tiny or huge :math:`|u|`).
    """
    density = _margin_density_function(n, d, sigma2)
    body = density(array("u", u))
    return float(body) if body.ndim == 0 else body


def _margin_density_function(n: int, d: int, sigma2: float):
    """:func:`margin_density` at fixed (n, d, sigma2), arguments already checked, as a function of
    u: a float u is evaluated in scalar arithmetic (the quadratures that call it ~10^5 times), an
    array elementwise."""
    if _spread(d, sigma2) == 0:
        raise ValueError(
            "margin_density needs d >= 2 or sigma2 > 0 "
            "(otherwise u is chi-square, not variance-gamma)"
        )
    law = _MarginLaw(n, d, sigma2)

    def density(u: np.ndarray | float) -> np.ndarray | float:
        if isinstance(u, float):
            return law.density_at(u)
        return law.density(np.asarray(u, dtype=float))

    return density


def _log_expit(x: np.ndarray) -> np.ndarray:
    """log sigmoid(x) = -log(1 + e^-x), without overflow."""
    with np.errstate(over="ignore"):
        return -np.logaddexp(0.0, -x)


def _slope(eta: float, n: int, temperature: float) -> float:
    """c = 2 eta / (n T): a sample is right with probability sigmoid(c u) (inf: T -> 0)."""
    with np.errstate(over="ignore", under="ignore"):
        ratio = np.float64(eta) / np.float64(temperature)
    return 2 * float(ratio) / n


_EXPECTATION_ACCURACY = Accuracy(
    relative=1e-10,
    absolute=1e-300,
    note="adaptive Gauss-Kronrod quadrature (relative tolerance 1e-12) on panels placed at the "
    "integrand's peak and falls, of the log-space margin density; values below 1e-300 may "
    "underflow",
)


@declare(
    _EXPECTATION_ACCURACY,
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    eta=_ETA,
    temperature=_TEMPERATURE,
    where=[_S2_ZERO_OR_POSITIVE],
)
def sampled_sign_error(n: int, d: int, sigma2: float, eta: float, temperature: float) -> float:
    r"""Probability that one coefficient sampled at temperature :math:`T` is wrong.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^8`.
    d : int
        Dimension, :math:`1 \le d \le 10^9`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`; with :math:`d = 1`, either 0 or at
        least :math:`10^{-100}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{100}`.
    temperature : float
        Sampling temperature :math:`T`, :math:`0 < T \le 10^{100}`.

    Returns
    -------
    error : float
        :math:`\mathbb{E}[\operatorname{sigmoid}(-2 \eta u / (n T))]`, :math:`u \sim`
        :func:`margin_density`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        P(\text{wrong}) = \mathbb{E}\big[\operatorname{sigmoid}(-2 \eta u / (n T))\big].

    Tends to :func:`greedy_sign_error` as :math:`T \to 0` and to :math:`1/2 - \eta / (2 T)` as
    :math:`T \to \infty`. Relatively accurate however small (see the module's Numerics); where
    :math:`2 \eta / (n T)` overflows it is the :math:`T \to 0` limit, where it underflows to 0 the
    :math:`T \to \infty` limit 1/2.
    """
    c = _slope(eta, n, temperature)
    s2 = _spread(d, sigma2)
    if c == 0:
        return 0.5
    if c == math.inf:
        return _greedy_sign_error(n, s2)
    law = _MarginLaw(n, d, sigma2)
    return _expectation(
        law,
        lambda a: _log_expit(-c * a),
        lambda a: _log_expit(c * a),
        points=(0.1 / c, 1 / c, 10 / c),
    )


@declare(
    Accuracy(relative=4e-16, note="three roundings"),
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    eta=_ETA,
)
def calibration_temperature(n: int, d: int, sigma2: float, eta: float) -> float:
    r"""The temperature :math:`T_{\mathrm{cal}}` at which the linear decoder is exactly calibrated.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^8`.
    d : int
        Dimension, :math:`1 \le d \le 10^9`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{100}`.

    Returns
    -------
    temperature : float
        :math:`T_{\mathrm{cal}} = \eta (d - 1 + \sigma^2) / n`. With :math:`d = 1` and
        :math:`\sigma^2 = 0` the result is 0: :math:`\hat w_j` then always has the sign of
        :math:`w_j`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    For the Rademacher prior, every finite :math:`n` and :math:`d`,
    :math:`P(w_j = +1 \mid \hat w_j) = \operatorname{sigmoid}(2 \hat w_j / T_{\mathrm{cal}})`, with
    :math:`\hat w = \eta X^\top y / n`. Given :math:`w_j = +1`, :math:`\hat w_j = \eta u / n` with
    :math:`u` of density :math:`f` (:func:`margin_density`); given :math:`w_j = -1`,
    :math:`\hat w_j = -\eta u / n`. Since :math:`f(-u) = \exp(-2u/s_2) f(u)`
    (:math:`s_2 = d - 1 + \sigma^2`; each Gaussian :math:`N(v, v s_2)` of the mixture has this
    ratio, whatever :math:`v`),

    .. math::

        P(w_j = +1 \mid \hat w_j = h) = \frac{f(nh/\eta)}{f(nh/\eta) + f(-nh/\eta)}
            = \operatorname{sigmoid}\Big(\frac{2 n h}{\eta s_2}\Big).
    """
    return eta * _spread(d, sigma2) / n


@declare(
    _EXPECTATION_ACCURACY,
    n=_N,
    d=_D,
    sigma2=_SIGMA2,
    eta=_ETA,
    temperature=_TEMPERATURE,
    N=Integer(1, 10**9),
    where=[_S2_ZERO_OR_POSITIVE],
)
def vote_sign_accuracy(
    n: int, d: int, sigma2: float, eta: float, temperature: float, N: int
) -> float:
    r"""Probability that a majority vote of :math:`N` samples of one coefficient is right.

    The samples are drawn at temperature :math:`T`.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^8`.
    d : int
        Dimension, :math:`1 \le d \le 10^9`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`; with :math:`d = 1`, either 0 or at
        least :math:`10^{-100}`.
    eta : float
        Step size, :math:`0 < \eta \le 10^{100}`.
    temperature : float
        Sampling temperature :math:`T`, :math:`0 < T \le 10^{100}`.
    N : int
        Number of votes, :math:`1 \le N \le 10^9`.

    Returns
    -------
    accuracy : float
        :math:`\mathbb{E}[A_N(\operatorname{sigmoid}(2 \eta u / (n T)))]`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        P(\text{right}) = \mathbb{E}\big[A_N\big(\operatorname{sigmoid}(2 \eta u / (n T))\big)\big],

    :math:`A_N` the :func:`majority_vote_accuracy`. Tends to 1 - :func:`greedy_sign_error` as
    :math:`N \to \infty`, from below, with a deficit :math:`\sim f'(0) (n T / \eta)^2 / (2 N)`
    (:math:`f` the margin density). Computed as the integral over :math:`u > 0` of
    :math:`f(u) A_N(p) + f(-u) A_N(1 - p)`, :math:`p = \operatorname{sigmoid}(2 \eta u / (n T))`, by
    the quadrature of the module's Numerics.
    """
    c = _slope(eta, n, temperature)
    s2 = _spread(d, sigma2)
    if c == 0:
        return 0.5
    if c == math.inf:
        return 1 - _greedy_sign_error(n, s2)
    law = _MarginLaw(n, d, sigma2)

    def log_vote(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(_majority_vote(special.expit(x), N))

    step = 1 / (c * math.sqrt(N))
    return _expectation(
        law,
        lambda a: log_vote(c * a),
        lambda a: log_vote(-c * a),
        points=(0.3 * step, step, 3 * step, 10 * step, 1 / c),
    )


# ---------------------------------------------------------------------------------------------
# the whole vector: greedy exact recovery

_SQRT2 = math.sqrt(2.0)


def _mills_gap(x: np.ndarray) -> np.ndarray:
    """R(x) + x for R(x) = phi(x) / Phi(x) and x <= 0: with y = -x / sqrt 2, sqrt(2) t(y),
    t(y) = 1 / (sqrt(pi) erfcx(y)) - y; for y >= 3 by Laplace's continued fraction sqrt(pi)
    erfcx(y) = 1 / (y + (1/2) / (y + 1 / (y + (3/2) / (y + ...)))), which avoids the
    cancellation (60 levels: below 1e-16 relative for y >= 3)."""
    y = -np.asarray(x, dtype=float) / _SQRT2
    near = np.minimum(y, 3.0)
    out = 1 / (math.sqrt(math.pi) * special.erfcx(near)) - near
    far = y >= 3
    if np.any(far):
        t = np.zeros(int(far.sum()))
        for k in range(60, 0, -1):
            t = (k / 2) / (y[far] + t)
        out[far] = t
    return _SQRT2 * out


def _tilted_mean(m: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of N(tau, 1) truncated below at -m: tau + R(m + tau) and
    1 - R (R + m + tau), R(x) = phi(x) / Phi(x) (through :func:`_mills_gap` for x < 0)."""
    x = m + tau
    with np.errstate(over="ignore", under="ignore"):
        ratio = np.exp(
            -x * x / 2 - 0.5 * math.log(2 * math.pi) - special.log_ndtr(np.maximum(x, 0))
        )
    gap = _mills_gap(np.minimum(x, 0))
    mean = np.where(x >= 0, tau + ratio, gap - m)
    variance = np.where(x >= 0, 1 - ratio * (ratio + x), 1 - (gap - x) * gap)
    return mean, np.maximum(variance, 1e-300)


def _log_scaled_ndtr(m: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """log E(tau), E(s) = e^{s^2/2} Phi(m + s), for real tau (erfcx form when m + tau < 0)."""
    x = m + tau
    below = np.log(0.5 * special.erfcx(-np.minimum(x, 0) / _SQRT2)) - m * tau - m * m / 2
    above = tau * tau / 2 + special.log_ndtr(np.maximum(x, 0))
    return np.where(x < 0, below, above)


_RISE = np.array([0, 1, 2, 3.0])  # the vertical part of the contour, in widths
_RAY = np.array([0, 1, 2, 4, 8, 16, 32, 48.0])  # then the ray, in widths
_RAY_ANGLE = math.pi / 3


def _orthant_logs(m: np.ndarray, d: int, sigma2: float) -> np.ndarray:
    """log P(G_i > -m for all i), G ~ N(0, I - 1 1^T / D), D = d + sigma2, d >= 2, for an array of
    m > 0.

    G has the law of X given sum_i X_i + X_0 = 0 (X ~ N(0, I_d), X_0 ~ N(0, sigma2)), so the
    probability is Phi(m)^d sqrt(2 pi D) h(0), h the density of T + X_0, T a sum of d standard
    normals truncated below at -m. By Fourier inversion,

        h(0) = e^{K(tau)} / pi Re int_C e^{K(s) - K(tau)} ds / i,

    K(s) = d log(E(s) / Phi(m)) + sigma2 s^2 / 2, E(s) = e^{s^2/2} Phi(m + s) (entire), C any path
    from tau to tau + i inf. tau is the saddle point K'(tau) = 0 (safeguarded Newton steps), where
    the integrand is 1 and the integral of order K''(tau)^(-1/2), so the result is relatively
    accurate however small. C rises vertically (the steepest descent) for 3 widths K''^(-1/2),
    then follows a ray at 60 degrees, along which |E(s)| decays exponentially (e^{s^2/2} like a
    Gaussian, the rest like e^{-m Re s}); on the vertical line it decays only like |s|^-d when
    sigma2 = 0. Both parts run on Gauss-Kronrod panels, all m at once.
    """
    m = np.asarray(m, dtype=float)
    dim = float(d)

    def slope(tau):
        mean, variance = _tilted_mean(m, tau)
        return dim * mean + sigma2 * tau, dim * variance + sigma2

    # K'(tau) < 0 for tau < -m - 1/m (the mean of the tilted coordinate is below 1/|m + tau| - m)
    low, high = -(m + 1 / m + 1), np.zeros_like(m)
    value, curvature = slope(high)
    tau = np.where(value > 0, np.maximum(-value / curvature, low / 2), 0.0)
    for _ in range(100):
        value, curvature = slope(tau)
        high = np.where(value > 0, tau, high)
        low = np.where(value > 0, low, tau)
        step = tau - value / curvature
        new = np.where((step > low) & (step < high), step, (low + high) / 2)
        if np.all(np.abs(new - tau) <= 1e-12 * (np.abs(tau) + 1 / np.sqrt(curvature))):
            break
        tau = new
    _, variance = _tilted_mean(m, tau)
    log_e0 = _log_scaled_ndtr(m, tau)
    width = 1 / np.sqrt(dim * variance + sigma2)
    rise = 3 * width
    reach = np.maximum(48 * width, 60 / (dim * m * math.cos(_RAY_ANGLE)))

    owners, bases, directions, weights, los, his = [], [], [], [], [], []
    ray = complex(math.cos(_RAY_ANGLE), math.sin(_RAY_ANGLE))
    for k in range(m.size):
        ray_edges = _RAY * width[k]
        while ray_edges[-1] < reach[k]:
            ray_edges = np.append(ray_edges, 2 * ray_edges[-1])
        for edges, base, direction, weight in (
            (_RISE * width[k], tau[k], 1j, (1.0, 0.0)),
            (ray_edges, tau[k] + 1j * rise[k], ray, (ray.imag, ray.real)),
        ):
            count = edges.size - 1
            owners.append(np.full(count, k))
            bases.append(np.full(count, base, dtype=complex))
            directions.append(np.full(count, direction))
            weights.append(np.tile(weight, (count, 1)))
            los.append(edges[:-1])
            his.append(edges[1:])
    owner, base, direction = (
        np.concatenate(owners),
        np.concatenate(bases),
        np.concatenate(directions),
    )
    weight, lo, hi = np.concatenate(weights), np.concatenate(los), np.concatenate(his)

    def integrand(nodes):  # Re (e^{K(s) - K(tau)} ds / (i dr)) at s = base + nodes direction
        k = owner[:, None]
        s = base[:, None] + nodes * direction[:, None]
        mk = np.broadcast_to(m[k], s.shape)
        z = mk + s
        left = z.real < 0
        log_e = np.empty(s.shape, dtype=complex)
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            zl, sl, ml = z[left], s[left], mk[left]
            log_e[left] = np.log(0.5 * special.erfcx(-zl / _SQRT2)) - ml * sl - ml * ml / 2
            zr, sr, mr = z[~left], s[~left], mk[~left]
            log_e[~left] = np.log(
                np.exp(sr * sr / 2)
                - 0.5 * special.erfcx(zr / _SQRT2) * np.exp(-mr * sr - mr * mr / 2)
            )
            t = np.exp(dim * (log_e - log_e0[k]) + sigma2 * (s * s - tau[k] ** 2) / 2)
        t = np.where(np.isnan(t), 0.0, t)
        return weight[:, :1] * t.real + weight[:, 1:] * t.imag

    total = np.zeros_like(m)
    for _ in range(40):
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        f = integrand(centre[:, None] + half[:, None] * _KRONROD_X)
        kronrod = half * (f @ _KRONROD_W)
        gauss = half * (f[:, 1::2] @ _GAUSS_W)
        resasc = half * (np.abs(f - (f @ _KRONROD_W / 2)[:, None]) @ _KRONROD_W)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scaled = np.minimum(1.0, (200 * np.abs(kronrod - gauss) / resasc) ** 1.5)
        error = np.where(resasc > 0, resasc * scaled, np.abs(kronrod - gauss))
        floor = 50 * np.finfo(float).eps * half * (np.abs(f) @ _KRONROD_W)
        accept = (error <= 1e-17 * width[owner]) | (error <= floor) | (lo.size > 2**16)
        total += np.bincount(owner[accept], kronrod[accept], minlength=m.size)
        if accept.all():
            break
        keep = ~accept
        owner, base, direction, weight = owner[keep], base[keep], direction[keep], weight[keep]
        lo, hi, centre = lo[keep], hi[keep], centre[keep]
        owner, base, direction = (np.concatenate([v, v]) for v in (owner, base, direction))
        weight = np.concatenate([weight, weight])
        lo, hi = np.concatenate([lo, centre]), np.concatenate([centre, hi])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_h = dim * log_e0 + sigma2 * tau * tau / 2 - math.log(math.pi) + np.log(total)
    return np.where(total > 0, log_h + 0.5 * math.log(2 * math.pi * (dim + sigma2)), -np.inf)


def _log_chi_density(t: np.ndarray, n: int) -> np.ndarray:
    """log of the chi density with n degrees of freedom at t > 0 (t^2 ~ chi^2_n): the chi-square
    log density at t^2 (the cancellation-free form of :class:`_MarginLaw`) plus log(2 t)."""
    k = n / 2
    r = t * t / n
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.where((r >= 0.5) & (r <= 2), np.log1p(r - 1), 2 * np.log(t) - math.log(n))
    return (
        k * (log_r - (r - 1))
        - log_r
        - math.log(2)
        - 0.5 * math.log(2 * math.pi * k)
        - _log_gamma_correction(k)
        + np.log(2 * t)
    )


@declare(
    Accuracy(
        relative=1e-9,
        absolute=1e-300,
        note="saddle-point Fourier inversion of the orthant probability (relative, however "
        "small) inside an adaptive Gauss-Kronrod quadrature over ||y||; values below 1e-300 "
        "may underflow",
    ),
    n=_N,
    d=Integer(1, 10**4),
    sigma2=_SIGMA2,
    where=[_S2_ZERO_OR_POSITIVE],
)
def greedy_exact_recovery(n: int, d: int, sigma2: float) -> float:
    r"""Probability that greedy decoding recovers the whole vector.

    :math:`P(\operatorname{sign}(\hat w) = w)` for the whole Rademacher vector, any
    :math:`\eta > 0`.

    Parameters
    ----------
    n : int
        Number of examples, :math:`1 \le n \le 10^8`.
    d : int
        Dimension, :math:`1 \le d \le 10^4`.
    sigma2 : float
        Label-noise variance, :math:`0 \le \sigma^2 \le 10^{12}`; with :math:`d = 1`, either 0 or at
        least :math:`10^{-100}`. :math:`\sigma^2 = 0` is allowed (the margins' sum is then fixed,
        :math:`\|y\|^2`).

    Returns
    -------
    probability : float
        :math:`P(\operatorname{sign}(\hat w) = w)`; for :math:`d = 1` it is
        1 - :func:`greedy_sign_error`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    With :math:`w_j x_{\cdot j} =: z_{\cdot j}`, the rows :math:`z_i \sim N(0, I_d)` and
    :math:`y_i = \sum_j z_{ij} + \sigma \epsilon_i`, so given :math:`y` the rows are independent
    :math:`N(y_i 1 / D, I - 1 1^\top / D)`, :math:`D = d + \sigma^2`. The margins
    :math:`u_j = z_{\cdot j}^\top y` are then jointly Gaussian: mean :math:`\|y\|^2 / D`, covariance
    :math:`\|y\|^2 (I - 1 1^\top / D)`, and :math:`\|y\|^2 = D V` with :math:`V \sim \chi^2_n`. All
    :math:`d` margins are positive with probability

    .. math::

        P = \mathbb{E}_t\big[P(G_1 > -m, \dots, G_d > -m)\big], \qquad
        G \sim N(0, I - 1 1^\top / D), \quad m = t / \sqrt D,

    :math:`t = \sqrt V \sim \chi_n`: an orthant probability of equicorrelated Gaussians
    (correlation :math:`-1/s_2`, :math:`s_2 = d - 1 + \sigma^2`) by a saddle-point Fourier inversion
    (``_orthant_log``), averaged over :math:`t` by the adaptive quadrature of the module's Numerics
    (the integrand is log-concave). Both steps are relatively accurate, so the result is too,
    however small (:math:`2^{1 - d}` at :math:`n = 1`, :math:`\sigma^2 = 0`).
    """
    if d == 1:
        return 1.0 - _greedy_sign_error(n, _spread(d, sigma2))
    root_d = math.sqrt(d + sigma2)

    def log_phi(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, -math.inf)
        positive = t > 0
        out[positive] = _log_chi_density(t[positive], n) + _orthant_logs(
            t[positive] / root_d, d, sigma2
        )
        return out

    centre = math.sqrt(n)
    far = centre + 40 + root_d * (math.sqrt(2 * math.log(d)) + 10)
    value = _log_integrals(
        [log_phi],
        1e-8 * min(1.0, centre),
        far,
        (centre,),
        ladder=48,
        zoom_tol=1e-3,
        bisections=8,
        ladder_edges=False,
    )
    return float(min(math.exp(value), 1.0))


# ---------------------------------------------------------------------------------------------
# votes and pass@k


def _tie_probability(p: np.ndarray, N: int) -> np.ndarray:
    """P(Bin(N, p) = N/2), N even, for p in [1e-100, 1 - 1e-100]: C(N, N/2) (p (1 - p))^(N/2) for
    N <= 100 (relative error below 5e-15 against mpmath; scipy's pmf, up to 5e-14, costs a
    distribution call), scipy's pmf (accurate to round-off) for larger N; in logs outside (scipy's
    pmf overflows near p = 1e-306), where the probability is below 1e-100 anyway for N >= 4 and
    exact to 1e-13 relative for N = 2."""
    m = N // 2
    inner = (p >= 1e-100) & (p <= 1 - 1e-100)
    with np.errstate(divide="ignore"):
        log_tie = (
            special.gammaln(N + 1) - 2 * special.gammaln(m + 1) + m * (np.log(p) + np.log1p(-p))
        )
    if N <= 100:
        with np.errstate(under="ignore"):
            direct = special.binom(N, m) * (p * (1 - p)) ** m
    else:
        direct = stats.binom.pmf(m, N, np.where(inner, p, 0.5))
    return np.where(inner, direct, np.exp(log_tie))


@declare(
    Accuracy(
        relative=1e-10,
        absolute=1e-300,
        note="scipy's regularised incomplete beta function and binomial pmf: below 1e-12 up to "
        "N = 10^5, then losing accuracy with N (3e-11 measured at N = 10^9); values below 1e-300 "
        "may underflow",
    ),
    p=Real(0.0, 1.0, array=True),
    N=Integer(1, 10**9),
)
def majority_vote_accuracy(p, N: int):
    r"""Probability that the majority of :math:`N` independent Bernoulli(p) votes is right.

    Ties (:math:`N` even) are broken uniformly at random.

    Parameters
    ----------
    p : float, array_like or torch.Tensor
        Probability of a right vote, in :math:`[0, 1]`; elementwise (a tensor gives a tensor of its
        dtype on its device).
    N : int
        Number of votes, :math:`1 \le N \le 10^9`.

    Returns
    -------
    accuracy : float, numpy.ndarray or torch.Tensor
        :math:`A_N(p)`, of the shape and kind of ``p``.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        A_N(p) = P(\mathrm{Bin}(N, p) > N/2) + \tfrac12 P(\mathrm{Bin}(N, p) = N/2).

    With uniform tie-breaking :math:`A_N(1 - p) = 1 - A_N(p)` and :math:`A_{2m} = A_{2m-1}`.
    """
    (p,), back = _as_arrays(p)
    return back(_majority_vote(p.astype(float), N))


def _majority_vote(p, N: int):
    """A_N(p) for p in [0, 1] (checked by the caller): P(Bin(N, p) > N/2) = I_p(N//2 + 1, N - N//2),
    the regularised incomplete beta (scipy's binomial sf, bit for bit), plus half the tie
    probability for N even."""
    accuracy = special.betainc(N // 2 + 1, N - N // 2, p)
    if N % 2 == 0:
        accuracy = accuracy + 0.5 * _tie_probability(p, N)
    return accuracy


_INT64_MAX = 2**63 - 1


def _counts(minimum: int):
    """The check of ``unbiased_pass_at_k``'s n (``minimum`` 1) or c (0): an integer, or an array
    or tensor of integers, each in [minimum, 2^63 - 1]; returned as given."""

    def check(name: str, value):
        entries = np.asarray(value.detach().cpu() if torch.is_tensor(value) else value)
        if entries.dtype == bool or not np.issubdtype(entries.dtype, np.integer):
            raise ValueError(
                f"{name} must be integers (at most 2^63 - 1), got dtype {entries.dtype}"
            )
        if entries.size == 0:
            raise ValueError(f"{name} must not be empty")
        if np.any(entries < minimum):
            raise ValueError(f"{name} must be >= {minimum}, got {entries.min()}")
        if np.any(entries > _INT64_MAX):
            raise ValueError(f"{name} must be <= 2^63 - 1, got {entries.max()}")
        return value

    return check


def _draw_count(low: int):
    def draw(rng: np.random.Generator) -> int:
        return int(min(round(math.exp(rng.uniform(0, math.log(_INT64_MAX)))) - 1 + low, _INT64_MAX))

    return draw


@declare(
    Accuracy(
        relative=1e-13,
        note="sum of log1p terms (Euler-Maclaurin with a quadrature of its integral when both c "
        "and k exceed 64), then -expm1",
    ),
    n=Given(
        "an integer >= 1, or an array or tensor of them, each at most 2^63 - 1",
        check=_counts(1),
        bad=(0, 2**63, 2.5, np.array([3, 0])),
        draw=_draw_count(1),
    ),
    c=Given(
        "an integer >= 0, or an array or tensor of them (broadcast against n)",
        check=_counts(0),
        bad=(-1, 2**64, 1.5, np.array([1, -1])),
        draw=_draw_count(0),
    ),
    k=Integer(1, None),
    where=[
        Condition("c <= n", lambda n, c: bool(np.all(_ints(c) <= _ints(n))), {"n": 5, "c": 6}),
        Condition("k <= n", lambda n, k: bool(np.all(k <= _ints(n))), {"n": 5, "k": 6}),
    ],
)
def unbiased_pass_at_k(n, c, k: int):
    r"""The unbiased pass@k estimator from :math:`n \ge k` samples of which :math:`c` are right.

    Parameters
    ----------
    n : int, array_like or torch.Tensor
        Number of samples, an integer :math:`\ge 1`, or an array or tensor of them, each at most
        :math:`2^{63} - 1`.
    c : int, array_like or torch.Tensor
        Number of right samples, an integer :math:`0 \le c \le n`, or an array or tensor of them
        (broadcast against ``n``).
    k : int
        :math:`1 \le k \le n`.

    Returns
    -------
    pass_at_k : float, numpy.ndarray or torch.Tensor
        :math:`1 - \binom{n - c}{k} / \binom{n}{k}`, elementwise (a tensor gives a tensor on its
        device); 1 when :math:`n - c < k`.

    Raises
    ------
    ValueError
        If :math:`c > n` or :math:`k > n`, or an argument lies outside its range (see "Domain and
        accuracy" below).

    Notes
    -----
    .. math::

        \frac{\binom{n - c}{k}}{\binom{n}{k}} = \prod_{i < r} \Big(1 - \frac{s}{n - i}\Big), \qquad
        r = \min(c, k), \quad s = \max(c, k),

    so the result is :math:`-\operatorname{expm1}(\sum_{i<r} \operatorname{log1p}(-s / (n - i)))`,
    relatively accurate also when it is about :math:`k c / n`. For :math:`r > 64` the sum is taken
    by the Euler-Maclaurin formula (its integral by quadrature, the last terms directly):
    :math:`O(1)` time and memory whatever :math:`n`, :math:`c` and :math:`k`. Its expectation, for
    :math:`c \sim \mathrm{Bin}(n, q)`, is exactly :math:`1 - (1 - q)^k`.
    """
    (n_arr, c_arr), back = _as_arrays(n, c)
    n_arr, c_arr = np.broadcast_arrays(_ints(n_arr), _ints(c_arr))
    shape = n_arr.shape
    n_arr, c_arr = n_arr.ravel(), c_arr.ravel()
    r, s = np.minimum(c_arr, k), np.maximum(c_arr, k)
    log_miss = np.zeros(n_arr.shape)
    certain = n_arr - s < r  # a factor (n - c - j) is 0: every k-subset holds a right answer
    log_miss[certain] = -np.inf
    small = ~certain & (r <= 64)
    if np.any(small):
        log_miss[small] = _log_miss_direct(n_arr[small], s[small], r[small])
    for i in np.flatnonzero(~certain & (r > 64)):
        log_miss[i] = _log_miss_summed(int(n_arr[i]), int(s[i]), int(r[i]))
    return back(0.0 - np.expm1(log_miss).reshape(shape))


pass_at_k = unbiased_pass_at_k  # its former name, kept so that icl.theory.pass_at_k still works


def _ints(value) -> np.ndarray:
    """An integer scalar, array or tensor as an int64 array (values checked <= 2^63 - 1)."""
    entries = np.asarray(value.detach().cpu() if torch.is_tensor(value) else value)
    return entries.astype(np.int64)


def _log_ratio_term(n_minus_i: np.ndarray, s: np.ndarray) -> np.ndarray:
    """log(1 - s / (n - i)) for integers n - i > s: log1p where s <= (n - i) / 2, else the log of
    the exact integer ratio (n - i - s) / (n - i) (log1p of a number near -1 would lose it)."""
    near = s * 2 <= n_minus_i
    with np.errstate(divide="ignore"):
        return np.where(
            near,
            np.log1p(-(s / n_minus_i.astype(float))),
            np.log((n_minus_i - s).astype(float) / n_minus_i.astype(float)),
        )


def _log_miss_direct(n: np.ndarray, s: np.ndarray, r: np.ndarray) -> np.ndarray:
    """sum_{i < r} log(1 - s / (n - i)), elementwise, r <= 64 terms, each relatively accurate and
    of one sign."""
    total = np.zeros(n.shape)
    for i in range(int(r.max())):
        live = i < r
        total[live] += _log_ratio_term(n[live] - i, s[live])
    return total


def _log_miss_summed(n: int, s: int, r: int) -> float:
    """sum_{i < r} g(i), g(t) = log(1 - s / (n - t)) = -log1p(s / y), y = n - s - t, for r > 64
    and n - s >= r.

    The last terms, where y < 64, are summed directly; the others (y >= 64, where g is smooth on
    the scale of 64) by Euler-Maclaurin over i = 0 .. R: int_0^R g + (g(0) + g(R)) / 2 + sum_j
    B_2j / (2j)! (g^(2j-1)(R) - g^(2j-1)(0)), j <= 5, with g^(q) = -(q - 1)! (y^-q - (y + s)^-q) =
    -(q - 1)! y^-q (-expm1(-q log1p(s / y))) (no cancellation); the remainder is below 1e-17
    relative. The integral, of -log1p(s / y) over y in [n - s - R, n - s], is taken in u = y - (n -
    s - R) (exact where y is small) by Gauss-Kronrod panels geometric in y.
    """
    bulk = min(r, n - s - 63)  # i < bulk: y = n - s - i >= 64
    tail = np.arange(max(bulk, 0), r, dtype=np.int64)
    total = float(_log_ratio_term(n - tail, np.full(tail.shape, s)).sum()) if tail.size else 0.0
    if bulk <= 0:
        return total
    end = bulk - 1  # Euler-Maclaurin over i = 0 .. end, y from gap to gap + end
    gap = n - s - end
    if end == 0:
        return total - math.log1p(s / gap)
    panels = 2 + int(math.log2(1 + end / gap))  # u = y - gap on panels geometric in y
    edges = gap * np.expm1(np.linspace(0.0, math.log1p(end / gap), panels))
    edges[0], edges[-1] = 0.0, float(end)
    integral = _kronrod(lambda u: np.log(np.log1p(s / (gap + u))), edges, 0.0, 1e-15)
    total -= integral + 0.5 * (math.log1p(s / gap) + math.log1p(s / (gap + end)))
    for j in range(1, 6):
        q = 2 * j - 1
        at_end, at_start = (
            -math.factorial(q - 1) * float(y) ** -q * -math.expm1(-q * math.log1p(s / y))
            for y in (gap, gap + end)
        )
        total += float(_B[2 * j]) / math.factorial(2 * j) * (at_end - at_start)
    return total


@declare(
    Accuracy(relative=1e-13, note="scipy's ndtri"),
    delta=Real(1e-150, 0.5),
    target=Real(0.5, 1.0, open_low=True, open_high=True),
)
def votes_needed(delta: float, target: float) -> float:
    r"""Normal approximation to the votes :math:`N` with :math:`V_N(1/2 + \delta)` = target.

    Parameters
    ----------
    delta : float
        The margin :math:`\delta`, :math:`10^{-150} \le \delta \le 0.5`.
    target : float
        The accuracy wanted, in :math:`(0.5, 1)`.

    Returns
    -------
    N : float
        :math:`(\Phi^{-1}(\mathrm{target}) / (2 \delta))^2`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    :math:`V_N` is :func:`majority_vote_accuracy`; by the central limit theorem
    :math:`V_N(1/2 + \delta) \approx \Phi(2 \delta \sqrt N)`, so

    .. math::

        N = \Big(\frac{\Phi^{-1}(\mathrm{target})}{2 \delta}\Big)^2.
    """
    return (float(special.ndtri(target)) / (2 * delta)) ** 2


@functools.lru_cache(maxsize=64)
def _gauss_legendre01(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (read-only; computed once per q)."""
    nodes, weights = np.polynomial.legendre.leggauss(q)
    nodes, weights = (nodes + 1) / 2, weights / 2
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


class _Law:
    """``pmf(k) = dist.pmf(k, *args)`` of a scipy distribution, without freezing it (a frozen
    distribution is built anew, docstring included, at every call: most of the vote sums' time)."""

    def __init__(self, dist, *args):
        self.dist, self.args = dist, args

    def pmf(self, k):
        return self.dist.pmf(k, *self.args)

    def sf(self, k):
        return self.dist.sf(k, *self.args)

    def log_pgf(self, z: np.ndarray) -> np.ndarray:
        """log E z^C for each copy (rows) at the points ``z`` (columns): Poisson(lam):
        lam (z - 1); Binomial(c, r): c log(1 - r + r z)."""
        if self.dist is stats.poisson:
            return self.args[0] * (z[None, :] - 1)
        count, r = self.args
        return count * np.log(1 - r + r * z[None, :])


def _others_at_most(
    law, total, mult: np.ndarray, m: int, s: int, tol: float, ties: str, smaller: np.ndarray
) -> float:
    """E[1{max_i C_i <= m} / (1 + #{i: C_i = m})] for counts C of the other answers that sum to s.

    With ``ties="lose"``: P(max_i C_i < m). With ``ties="smallest"``: P(C_i < m for the groups
    flagged in ``smaller``, C_i <= m for the others), one evaluation with t = 0 on the flagged
    groups and t = 1 on the others. ``law`` is a distribution (its ``pmf``) of shape
    (groups, 1) whose independent copies, conditioned on summing to s, have the law of C:
    Poisson(s q_i) for a multinomial (Poissonisation), Binomial(c_i, r) for a multivariate
    hypergeometric (any r); ``total`` is the law of the sum of all copies, and ``mult`` counts the
    answers in each group.

    The expectation is [z^s] prod_i (sum_{c<m} P_i(c) z^c + t P_i(m) z^m), integrated over t in
    [0, 1] (1/(1+J) = int t^J dt), divided by P(sum = s). The coefficient is read off a discrete
    Fourier transform of length L > s + 12 sqrt(s) + 30 (no wrap-around), of which half is
    computed (the series is real). Answers whose chance of reaching m is negligible (their total
    below ``tol`` P(sum = s) / 2) are not truncated: their laws multiply into one factor in closed
    form (``log_pgf``), so that many rare answers cost one. The t-integrand is a
    polynomial of degree at most min(s // m, number of answers); Gauss-Legendre with Q nodes is
    exact up to degree 2Q - 1, and Q doubles from 2 until it reaches that degree, or the ties it
    neglects provably weigh less than ``tol`` (P(J >= 2Q) <= 3 sqrt(s) mu^(2Q) / (2Q)!), or two
    successive rules agree to ``tol``.
    """
    if m > s:  # no other answer can reach m votes (nor tie at m): the correct answer wins
        return 1.0
    size = 1 << int(math.ceil(math.log2(s + 12 * math.sqrt(s) + 31)))
    normaliser = total.pmf(s)
    # answers that reach m with negligible probability keep their whole law (no truncation): the
    # coefficient moves by at most sum mult P(C >= m), kept below tol P(sum = s) / 2; their laws
    # multiply into one closed-form factor
    tails = mult * law.sf(m - 1)[:, 0]
    order = np.argsort(tails)
    merged = np.zeros(mult.size, dtype=bool)
    merged[order[np.cumsum(tails[order]) <= tol * normaliser / 2]] = True
    kept = ~merged
    frequency = np.arange(size // 2 + 1)
    z = np.exp(-2j * np.pi * frequency / size)
    base = np.ones(frequency.size, dtype=complex)
    if merged.any():
        base = np.exp(mult[merged] @ law.log_pgf(z)[merged])
    rows = np.zeros((int(kept.sum()), size))
    rows[:, :m] = law.pmf(np.arange(m)[None, :])[kept]
    A = np.fft.rfft(rows, axis=1)
    at_m = law.pmf(m)[:, 0]
    B = at_m[kept][:, None] * np.exp(-2j * np.pi * m * frequency / size)[None, :]
    # [z^s] of a real series from half its spectrum: the other half is its conjugate
    weights = np.where((frequency == 0) | (frequency == size // 2), 1.0, 2.0) / size
    read = weights * np.exp(2j * np.pi * s * frequency / size)
    mult, smaller = mult[kept], smaller[kept]
    single = mult == 1

    def value(t: np.ndarray) -> np.ndarray:  # t: (nodes, kept groups)
        factors = A[None] + t[:, :, None] * B[None]
        F = base * np.prod(factors[:, single], axis=1)  # |factor| <= 1: no overflow
        if not single.all():
            with np.errstate(divide="ignore"):
                logs = np.log(factors[:, ~single])
            powers = mult[~single][None, :, None]
            F = F * np.exp((powers * logs.real).sum(1) + 1j * (powers * logs.imag).sum(1))
        return (F @ read).real / normaliser

    if ties == "lose":
        return float(value(np.zeros((1, mult.size)))[0])
    if ties == "smallest":
        return float(value((~smaller).astype(float)[None, :])[0])
    bound = float(value(np.ones((1, mult.size)))[0])  # t = 1: P(max_i C_i <= m) >= the expectation
    if bound < tol:
        return bound
    log_mu = math.log(
        max(float((mult * at_m[kept]).sum()), 1e-300)
    )  # mu: Poissonised mean number of others at m

    def tail_small(q: int) -> bool:  # P(J >= 2q) <= 3 sqrt(s) mu^(2q) / (2q)! < tol
        return math.log(3 * math.sqrt(s)) + 2 * q * log_mu - special.gammaln(2 * q + 1) < math.log(
            tol
        )

    exact = min(s // m, int(mult.sum())) // 2 + 1  # enough nodes for every possible number of ties
    q_nodes, previous = 2, None
    while True:
        q_nodes = min(q_nodes, exact)
        nodes, weights = _gauss_legendre01(q_nodes)
        estimate = float(weights @ value(np.repeat(nodes[:, None], mult.size, axis=1)))
        if (
            q_nodes == exact
            or tail_small(q_nodes)
            or (previous is not None and abs(estimate - previous) < tol)
        ):
            return estimate
        previous, q_nodes = estimate, 2 * q_nodes


def _split_correct(name: str, values: np.ndarray, correct: int, ties: str, codes):
    """``values[correct]``, the positive entries among the others, and which of those win a tie
    against ``correct``.

    ``correct`` and ``codes`` are checked here: ``ties="smallest"`` needs ``codes``, distinct
    integers labelling the answers (a tie goes to the smallest code), and no other rule takes
    them.
    """
    if correct >= values.size:
        raise ValueError(f"correct must index {name} (size {values.size}), got {correct}")
    if (ties == "smallest") != (codes is not None):
        raise ValueError(
            "codes must be given exactly when ties='smallest' "
            f"(ties={ties!r}, codes {'given' if codes is not None else 'missing'})"
        )
    smaller = np.zeros(values.size, dtype=bool)
    if codes is not None:
        codes = np.asarray(codes)
        if (
            codes.shape != values.shape
            or not np.issubdtype(codes.dtype, np.integer)
            or np.unique(codes).size != codes.size
        ):
            raise ValueError(
                f"codes must be {values.size} distinct integers, one per answer of {name}"
            )
        smaller = codes < codes[correct]
    keep = np.delete(values, correct) > 0
    return (
        values[correct].item(),
        np.delete(values, correct)[keep],
        np.delete(smaller, correct)[keep],
    )


def _groups(others: np.ndarray, smaller: np.ndarray):
    """Distinct (value, wins-a-tie) pairs of the other answers: values, flags, multiplicities."""
    keys, mult = np.unique(
        np.stack([others.astype(float), smaller.astype(float)]), axis=1, return_counts=True
    )
    return keys[0], keys[1].astype(bool), mult


_EXACT_SUM_VOTES = 10000  # the exact sums run up to N votes ...
_EXACT_SUM_WORK = 10**5  # ... and N times the distinct shares of the other answers


def _vote_in_reach(shares: np.ndarray, N: int, correct: int, tol: float, ties: str, codes) -> bool:
    """Whether a vote over answers of probabilities (or counts) ``shares`` is in the exact sums'
    reach: N <= 10^4 and N times the number of distinct other shares <= 10^5, or a Chernoff
    bound settles it to within ``tol`` (then it costs nothing). Malformed ``correct`` or
    ``codes`` pass here: the function itself refuses them, saying why."""
    shares = np.asarray(shares, dtype=float)
    if not 0 <= correct < shares.size:
        return True
    p0 = shares[correct] / shares.sum()
    others = np.delete(shares, correct) / shares.sum()
    others = others[others > 0]
    if others.size == 0 or p0 == 0:
        return True
    distinct = np.unique(others).size * (2 if ties == "smallest" else 1)
    if N <= _EXACT_SUM_VOTES and N * distinct <= _EXACT_SUM_WORK:
        return True
    values, counts = np.unique(others, return_counts=True)
    return _vote_bound(p0, values, counts, N) <= tol


_IN_REACH = Condition(
    "N <= 10^4 and N x (distinct shares of the other answers, twice that with ties='smallest') "
    "<= 10^5, or a Chernoff bound settles the vote to within tol",
    lambda probs, N, correct, tol, ties, codes: _vote_in_reach(probs, N, correct, tol, ties, codes),
    {"probs": np.array([0.34, 0.33, 0.33]), "N": 50001},
)


_VOTE_ACCURACY = Accuracy(
    absolute=1e-9,
    note="at most about 3 tol (tol <= 1e-10: terms below tol / N dropped, conditional terms and "
    "the Chernoff decisions to tol) plus the round-off of the Fourier sums (below 1e-12 measured)",
)


def _probability_vector(name: str, value):
    """``probs``: a 1-D array or tensor of probabilities summing to 1 (within its dtype's
    tolerance), as a float64 array."""
    probabilities(name, value)  # a float32 softmax output passes (its dtype's tolerance)
    entries = array(name, value)
    if entries.ndim != 1:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {entries.shape}")
    return entries


def _draw_probabilities(rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(2, 9))
    weights = rng.exponential(size=size) ** rng.uniform(0.5, 4)
    return weights / weights.sum()


_CODES = Given("None, or (with ties='smallest') distinct integers, one per answer")
_TIES = Choice(TIE_RULES)
_TOL = Real(1e-300, 1e-10)


@declare(
    _VOTE_ACCURACY,
    probs=Given(
        "a 1-D array or tensor of probabilities summing to 1",
        check=_probability_vector,
        bad=([0.5, 0.6], [[0.5, 0.5]], [1.5, -0.5]),
        draw=_draw_probabilities,
    ),
    N=Integer(1, 10**9),
    correct=Integer(0, None),
    tol=_TOL,
    ties=_TIES,
    codes=_CODES,
    where=[_IN_REACH],
)
def plurality_vote_accuracy(
    probs, N: int, correct: int = 0, tol: float = 1e-12, ties: str = "uniform", codes=None
) -> float:
    r"""Probability that the most frequent of :math:`N` i.i.d. answers is answer ``correct``.

    The answers are drawn from ``probs``; ties are broken by ``ties``.

    Parameters
    ----------
    probs : array_like or torch.Tensor
        A 1-D array or tensor of probabilities summing to 1 (answers of equal probability are
        grouped, so a distribution estimated from counts is cheap).
    N : int
        Number of votes, :math:`1 \le N \le 10^9`. The vote must be in the exact sums' reach:
        :math:`N \le 10^4` and :math:`N \times` (distinct shares of the other answers, twice that
        with ``ties="smallest"``) :math:`\le 10^5`, or a Chernoff bound settles the vote to within
        ``tol``.
    correct : int, optional
        Index of the correct answer, :math:`\ge 0`; default 0.
    tol : float, optional
        Tolerance, :math:`10^{-300} \le \mathrm{tol} \le 10^{-10}`; default :math:`10^{-12}`.
    ties : {"uniform", "lose", "smallest"}, optional
        The tie-breaking rule; default ``"uniform"``.
    codes : array_like or None, optional
        ``None``, or (with ``ties="smallest"``) distinct integers, one per answer.

    Returns
    -------
    accuracy : float
        Within a few ``tol`` plus floating round-off of the exact value. For two answers it equals
        :func:`majority_vote_accuracy`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    The exact multinomial sum

    .. math::

        \sum_m P(M_{\mathrm{correct}} = m) \, \mathbb{E}\Big[\frac{1\{\max_{\mathrm{other}} \le m\}}
            {1 + \#\text{ties at } m} \Bigm| M_{\mathrm{correct}} = m\Big],

    evaluated numerically: terms of weight below ``tol / N`` are dropped, terms decided by a
    Chernoff bound to within ``tol`` are taken as decided, and each other conditional term is
    integrated to ``tol`` (see ``_vote_sum`` and ``_others_at_most``). Where a Chernoff bound shows
    that the result is 1 (or 0) within ``tol``, that is the answer.

    ``ties`` is the tie-breaking rule: ``"uniform"`` (each tied answer equally likely, as above),
    ``"lose"`` (the probability that the correct answer is strictly the most frequent, a rule that
    never favours it), or ``"smallest"`` (the tied answer with the smallest of ``codes`` wins, as
    ``scipy.stats.mode`` and ``torch.mode`` do): then the correct answer must be strictly more
    frequent than every answer with a smaller code and at least as frequent as every other.
    """
    p0, others, smaller = _split_correct("probs", probs, correct, ties, codes)
    if others.size == 0:
        return 1.0
    if p0 == 0:
        return 0.0
    values, flags, mult = _groups(others, smaller)
    values = values / (values * mult).sum()
    bound = _vote_bound(p0, values * (1 - p0), mult, N)
    if bound <= tol:
        return 1.0 if np.all(values * (1 - p0) < p0) else 0.0

    def others_law(s: int):
        return _Law(stats.poisson, s * values[:, None]), _Law(stats.poisson, s)

    return _vote_sum(_Law(stats.binom, N, p0), others_law, mult, flags, values, N, tol, ties)


def _relative_entropy(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(Bernoulli(a) || Bernoulli(q)), a in [0, 1], q in (0, 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(a > 0, a * np.log(a / q), 0.0)
        second = np.where(a < 1, (1 - a) * np.log1p(-a) - (1 - a) * np.log1p(-q), 0.0)
    return first + second


def _vote_sum(
    correct_law,
    others_law,
    mult: np.ndarray,
    smaller: np.ndarray,
    shares: np.ndarray,
    N: int,
    tol: float,
    ties: str,
) -> float:
    """sum_m P(M = m) E[win | M = m], M ~ ``correct_law``; the others' counts given M = m from
    ``others_law(N - m)``.

    Terms of weight below tol / N are dropped. Given M = m, each other answer's count C_i is
    Binomial(s, q_i) (s = N - m, q_i = ``shares``), or hypergeometric with the same mean, whose
    Chernoff bounds are at most the binomial ones (Hoeffding 1963): P(C_i >= m) <=
    e^{-s KL(m/s || q_i)} for m/s > q_i, P(C_i <= m) <= the same for m/s < q_i. Where the first
    bound, summed over the answers, is below tol / (2 N P(M = m)), the conditional win
    probability is 1 within it (no other answer reaches m); where the second is, for some answer,
    it is 0 within it; only the remaining terms are summed exactly (``_others_at_most``).
    """
    m_all = np.arange(1, N + 1)
    weight = correct_law.pmf(m_all)
    keep = weight >= tol / N
    m_all, weight = m_all[keep], weight[keep]
    s_all = N - m_all
    fraction = np.divide(m_all, s_all, out=np.full(m_all.shape, np.inf), where=s_all > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = -s_all[:, None] * _relative_entropy(np.minimum(fraction, 1.0)[:, None], shares)
    above = fraction[:, None] > shares  # C_i >= m is a large deviation
    reach = np.where(above, np.exp(exponent), 1.0) @ mult  # bound on P(some C_i >= m)
    reach = np.where(m_all > s_all, 0.0, reach)
    fall = np.where(~above & (m_all[:, None] < s_all[:, None]), exponent, 0.0).min(axis=1)
    limit = np.log(tol / (2 * N * weight))
    won = reach <= np.exp(limit)
    lost = (fall <= limit) & ~won
    lost |= m_all * mult.sum() < s_all  # the other answers cannot all stay at or below m
    total = float(weight[won].sum())
    for m, w_m in zip(m_all[~won & ~lost], weight[~won & ~lost]):
        s = N - int(m)
        total += w_m * _others_at_most(
            *others_law(s), mult, int(m), s, tol / (N * w_m), ties, smaller
        )
    return float(min(max(total, 0.0), 1.0))


def _vote_bound(p0: float, others: np.ndarray, mult: np.ndarray, N: int) -> float:
    """A bound on P(M_correct >= M_i) when others dominate, or on P(some M_i >= M_correct):
    Chernoff, per draw E e^{t (1{i} - 1{correct})} is at least minimised to 1 - (sqrt(p0) -
    sqrt(p_i))^2, also without replacement (Hoeffding 1963). Returns (bound on 1 - P(win)
    if ``p0`` exceeds every other share, else a bound on P(win))."""
    gaps = np.log1p(-((math.sqrt(p0) - np.sqrt(others)) ** 2)) * N
    if np.all(others < p0):
        return float(np.exp(gaps) @ mult)
    if np.any(others > p0):
        return float(np.exp(gaps[others > p0].min()))
    return math.inf


def _count_vector(name: str, value) -> np.ndarray:
    """``counts``: a non-empty 1-D array of non-negative integers."""
    counts = np.asarray(value.detach().cpu() if torch.is_tensor(value) else value)
    if (
        counts.ndim != 1
        or counts.size < 1
        or counts.dtype == bool
        or not np.issubdtype(counts.dtype, np.integer)
        or np.any(counts < 0)
        or np.any(counts > 10**15)
    ):
        raise ValueError(
            f"{name} must be a non-empty 1-D array of non-negative integers (at most 10^15)"
        )
    return counts


def _draw_counts(rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(2, 9))
    return (
        np.round(
            rng.exponential(size=size) ** rng.uniform(0.5, 3) * 10 ** rng.uniform(0, 3)
        ).astype(np.int64)
        + np.eye(size, dtype=np.int64)[0]
    )


@declare(
    _VOTE_ACCURACY,
    counts=Given(
        "a non-empty 1-D array of non-negative integers (at most 10^15 each)",
        check=_count_vector,
        bad=(np.array([0.5, 0.5]), np.array([2, -1]), np.array([[1, 2]])),
        draw=_draw_counts,
    ),
    N=Integer(1, 10**9),
    correct=Integer(0, None),
    tol=_TOL,
    ties=_TIES,
    codes=_CODES,
    where=[
        Condition(
            "N <= sum(counts)",
            lambda counts, N: N <= int(np.sum(counts)),
            {"counts": np.array([2, 1]), "N": 4},
        ),
        Condition(
            _IN_REACH.text,
            lambda counts, N, correct, tol, ties, codes: _vote_in_reach(
                counts, N, correct, tol, ties, codes
            ),
            {"counts": np.array([3400, 3300, 3300]), "N": 50001},
        ),
    ],
)
def subsample_vote_accuracy(
    counts, N: int, correct: int = 0, tol: float = 1e-12, ties: str = "uniform", codes=None
) -> float:
    r"""Probability that the plurality of :math:`N` answers drawn from a sample is ``correct``.

    The :math:`N` answers are drawn WITHOUT replacement from a stored sample.

    Parameters
    ----------
    counts : array_like
        The stored sample's answer counts: a non-empty 1-D array of non-negative integers (at most
        :math:`10^{15}` each), of sum :math:`S \ge N`.
    N : int
        Number of votes, :math:`1 \le N \le 10^9`. The vote must be in the exact sums' reach:
        :math:`N \le 10^4` and :math:`N \times` (distinct shares of the other answers, twice that
        with ``ties="smallest"``) :math:`\le 10^5`, or a Chernoff bound settles the vote to within
        ``tol``.
    correct : int, optional
        Index of the correct answer, :math:`\ge 0`; default 0.
    tol : float, optional
        Tolerance, :math:`10^{-300} \le \mathrm{tol} \le 10^{-10}`; default :math:`10^{-12}`.
    ties : {"uniform", "lose", "smallest"}, optional
        The tie-breaking rule; default ``"uniform"``.
    codes : array_like or None, optional
        ``None``, or (with ``ties="smallest"``) distinct integers, one per answer.

    Returns
    -------
    accuracy : float
        Within a few ``tol`` plus floating round-off of the exact value.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    If the :math:`S` stored answers are i.i.d. from :math:`\pi`, every :math:`N`-subset is an i.i.d.
    sample of size :math:`N`, so this is an unbiased estimate of :func:`plurality_vote_accuracy` at
    :math:`\pi` (the plug-in ``plurality_vote_accuracy(counts / S, N)``, a vote with replacement, is
    biased). Exact multivariate hypergeometric sum, evaluated like :func:`plurality_vote_accuracy`
    (independent Binomial(:math:`c_i, r`) counts conditioned on their sum in place of Poisson ones),
    with the same tie rules ``ties`` (``"uniform"``, ``"lose"``, ``"smallest"`` with ``codes``) and
    the same Chernoff shortcuts (drawing without replacement is at least as concentrated, Hoeffding
    1963).

    References
    ----------
    - W. Hoeffding, "Probability inequalities for sums of bounded random variables", *Journal of
      the American Statistical Association* 58(301), 13-30, 1963.
    """
    c0, others, smaller = _split_correct("counts", counts, correct, ties, codes)
    S = int(counts.sum())
    if others.size == 0:
        return 1.0
    if c0 == 0:
        return 0.0
    sizes, flags, mult = _groups(others, smaller)
    sizes = sizes.astype(np.int64)
    rest = S - c0
    bound = _vote_bound(c0 / S, sizes / S, mult, N)
    if bound <= tol:
        return 1.0 if np.all(sizes < c0) else 0.0

    def others_law(s: int):
        r = min(s / rest, 1 - 1e-12)
        return _Law(stats.binom, sizes[:, None], r), _Law(stats.binom, rest, r)

    return _vote_sum(
        _Law(stats.hypergeom, S, c0, N), others_law, mult, flags, sizes / rest, N, tol, ties
    )
