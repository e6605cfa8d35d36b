"""References for :mod:`icl.theory.one_step`: the closed forms in exact rational arithmetic
(``fractions.Fraction`` holds every float input exactly), written in their textbook form
(with the cancellations the implementation avoids), then rounded once."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from tests.accuracy import Reference, register

F = Fraction


def _float(value: Fraction) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _risk(n, d, sigma2, eta, psi2) -> Fraction:
    n, d, sigma2, eta, psi2 = F(n), F(d), F(sigma2), F(eta), F(psi2)
    return d * (psi2 * (1 - 2 * eta + eta**2 * (n + d + 1) / n) + eta**2 * sigma2 / n)


def _step(n, d, sigma2, psi2) -> Fraction:
    return F(psi2) * n / (F(psi2) * (n + d + 1) + F(sigma2))


register(
    Reference(
        "icl.theory.one_step.one_step_risk",
        "exact rational arithmetic (Fraction)",
        exact=lambda n, d, sigma2, eta, psi2=1.0: _float(_risk(n, d, sigma2, eta, psi2)),
        cases=(
            # at the optimal step of a huge n the bracket is 2/n: the textbook form cancels
            dict(n=10**15, d=1, sigma2=0.0, eta=float(_step(10**15, 1, 0.0, 1.0)), psi2=1.0),
            dict(n=1, d=10**12, sigma2=1e12, eta=-1e6, psi2=1e-12),
            dict(n=7, d=3, sigma2=0.25, eta=1.0, psi2=1.0),
            dict(n=5, d=5, sigma2=0.0, eta=0.0, psi2=3.0),
        ),
    )
)

register(
    Reference(
        "icl.theory.one_step.optimal_step",
        "exact rational arithmetic (Fraction)",
        exact=lambda n, d, sigma2, psi2=1.0: _float(_step(n, d, sigma2, psi2)),
        cases=(
            dict(n=10**15, d=3, sigma2=1e10, psi2=1e-300),  # psi2 / sigma2 underflows
            dict(n=3, d=2**62, sigma2=1e300, psi2=1e300),
            dict(n=1, d=1, sigma2=0.0, psi2=5e-324),
        ),
    )
)

register(
    Reference(
        "icl.theory.one_step.optimal_one_step_risk",
        "exact rational arithmetic (Fraction)",
        exact=lambda n, d, sigma2, psi2=1.0: _float(
            F(d) * F(psi2) * (F(psi2) * (d + 1) + F(sigma2)) / (F(psi2) * (n + d + 1) + F(sigma2))
        ),
        cases=(
            dict(n=10**15, d=3, sigma2=1e10, psi2=1e-300),
            dict(n=2, d=10**15, sigma2=0.0, psi2=1e200),
            dict(n=1, d=1, sigma2=1e-12, psi2=5e-324),
        ),
    )
)


def _preconditioned(gamma, n, sigma2, psi2=1.0) -> float:
    gamma = np.asarray(gamma.detach().cpu() if hasattr(gamma, "detach") else gamma, dtype=float)
    d = gamma.shape[0]
    entries = [[F(float(v)) for v in row] for row in gamma]
    frob2 = sum(v * v for row in entries for v in row)
    trace = sum(entries[i][i] for i in range(d))
    n, sigma2, psi2 = F(n), F(sigma2), F(psi2)
    return _float(psi2 * ((n + d + 1) / n * frob2 - 2 * trace + d) + sigma2 / n * frob2)


register(
    Reference(
        "icl.theory.one_step.preconditioned_risk",
        "exact rational arithmetic (Fraction) on the float entries",
        exact=_preconditioned,
        cases=(
            # Gamma near I with n huge: the textbook bracket cancels to ||Gamma - I||^2 + ...
            dict(gamma=np.eye(4) * (1 + 1e-9), n=10**15, sigma2=0.0, psi2=1.0),
            dict(gamma=np.array([[0.0]]), n=1, sigma2=1e12, psi2=1e-12),
            dict(gamma=-np.ones((3, 3)), n=2, sigma2=0.5, psi2=2.0),
        ),
    )
)


def _compare_preconditioner(kwargs, value) -> float:
    """eta* I_d: the diagonal against eta* in exact rational arithmetic (relative 1e-14), every
    other entry exactly 0 (without a second (d, d) array)."""
    value = np.asarray(value)
    d = kwargs["d"]
    if value.shape != (d, d):
        return math.inf
    diagonal = np.diagonal(value)
    if np.count_nonzero(value) != np.count_nonzero(diagonal):
        return math.inf
    exact = _float(_step(kwargs["n"], d, kwargs["sigma2"], kwargs.get("psi2", 1.0)))
    error = np.max(np.abs(diagonal - exact))
    return 0.0 if error == 0 else float(error / max(1e-14 * abs(exact), 1e-322))


register(
    Reference(
        "icl.theory.one_step.optimal_preconditioner",
        "exact rational arithmetic (Fraction) for eta* on the diagonal, zeros elsewhere",
        compare=_compare_preconditioner,
        cases=(dict(n=1, d=4096, sigma2=0.0, psi2=1.0),),
    )
)
