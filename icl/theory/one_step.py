r"""Chapter 1: the risk of one step of preconditioned GD from :math:`w_0 = 0`.

The step is :math:`\hat w = \Gamma X^\top y / n`. With :math:`S = X^\top X / n`,

.. math::

    \mathbb{E}[(X^\top X)^2] &= n (n + d + 1) I_d, \\
    R(\Gamma) &= \psi^2 \Big[\frac{n + d + 1}{n} \|\Gamma\|_F^2 - 2 \operatorname{tr}\Gamma
        + d\Big] + \frac{\sigma^2}{n} \|\Gamma\|_F^2, \\
    R(\eta I) &= d \Big[\psi^2 \Big(1 - 2\eta + \eta^2 \frac{n + d + 1}{n}\Big)
        + \frac{\eta^2 \sigma^2}{n}\Big], \\
    \eta^* &= \frac{\psi^2 n}{\psi^2 (n + d + 1) + \sigma^2}, \\
    R(\eta^* I) &= \frac{d \psi^2 (\psi^2 (d + 1) + \sigma^2)}{\psi^2 (n + d + 1) + \sigma^2}.

Each is evaluated as a sum of non-negative terms, so that no cancellation costs accuracy:

.. math::

    \frac{n + d + 1}{n} \|\Gamma\|_F^2 - 2 \operatorname{tr}\Gamma + d
        &= \|\Gamma - I\|_F^2 + \frac{d + 1}{n} \|\Gamma\|_F^2, \\
    1 - 2\eta + \eta^2 \frac{n + d + 1}{n} &= (1 - \eta)^2 + \eta^2 \frac{d + 1}{n}.
"""

from __future__ import annotations

import numpy as np

from icl.domain import Accuracy, Given, Integer, Real, declare
from icl.validation import array

_SIZE = Integer(1, None)
_SIGMA2 = Real(0.0, None)
_PSI2 = Real(0.0, None, open_low=True)
_CLOSED_FORM = Accuracy(
    relative=1e-14,
    absolute=1e-322,
    note="a closed form of non-negative terms, a few roundings (a subnormal result, below "
    "2.2e-308: a few spacings of 5e-324); inf only where the value exceeds the float range",
)


def _one_step_risk(n: int, d: int, sigma2: float, eta: float, psi2: float) -> float:
    """The small factor last (psi2 times the rest), so that no intermediate is subnormal."""
    return psi2 * (d * ((1 - eta) ** 2 + eta**2 * ((d + 1) / n))) + d * eta**2 * (sigma2 / n)


def _optimal_step(n: int, d: int, sigma2: float, psi2: float) -> float:
    """psi2 n / (psi2 (n + d + 1) + sigma2), with the ratio of the variances taken below 1 (no
    overflow) and n psi2 / sigma2 where psi2 / sigma2 would underflow."""
    if psi2 >= sigma2:
        return n / ((n + d + 1) + sigma2 / psi2)
    ratio = psi2 / sigma2
    if ratio < 1e-300:
        return n * psi2 / sigma2
    return n * ratio / ((n + d + 1) * ratio + 1)


@declare(_CLOSED_FORM, n=_SIZE, d=_SIZE, sigma2=_SIGMA2, eta=Real(), psi2=_PSI2)
def one_step_risk(n: int, d: int, sigma2: float, eta: float, *, psi2: float = 1.0) -> float:
    r"""Risk of one plain GD step, :math:`\mathbb{E}\|\eta X^\top y / n - w\|^2`.

    Parameters
    ----------
    n : int
        Number of in-context examples, :math:`n \ge 1`.
    d : int
        Dimension of :math:`x` and :math:`w`, :math:`d \ge 1`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    eta : float
        Step size; any real number (the risk is a quadratic in it).
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.

    Returns
    -------
    risk : float
        The parameter risk :math:`R(\eta I)`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        R(\eta I) = d \Big[\psi^2 \Big(1 - 2\eta + \eta^2 \frac{n + d + 1}{n}\Big)
            + \frac{\eta^2 \sigma^2}{n}\Big],

    evaluated as
    :math:`d [\psi^2 ((1 - \eta)^2 + \eta^2 (d + 1)/n) + \eta^2 \sigma^2 / n]`.
    """
    return _one_step_risk(n, d, sigma2, eta, psi2)


@declare(_CLOSED_FORM, n=_SIZE, d=_SIZE, sigma2=_SIGMA2, psi2=_PSI2)
def optimal_step(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    r"""The step :math:`\eta^*` minimising :func:`one_step_risk`.

    Parameters
    ----------
    n : int
        Number of in-context examples, :math:`n \ge 1`.
    d : int
        Dimension of :math:`x` and :math:`w`, :math:`d \ge 1`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.

    Returns
    -------
    eta : float
        The optimal step size :math:`\eta^*`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \eta^* = \frac{\psi^2 n}{\psi^2 (n + d + 1) + \sigma^2}.
    """
    return _optimal_step(n, d, sigma2, psi2)


@declare(_CLOSED_FORM, n=_SIZE, d=_SIZE, sigma2=_SIGMA2, psi2=_PSI2)
def optimal_one_step_risk(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> float:
    r"""Minimum over preconditioners :math:`\Gamma` of the one-step risk :math:`R(\Gamma)`.

    Parameters
    ----------
    n : int
        Number of in-context examples, :math:`n \ge 1`.
    d : int
        Dimension of :math:`x` and :math:`w`, :math:`d \ge 1`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.

    Returns
    -------
    risk : float
        :math:`\min_\Gamma R(\Gamma) = R(\eta^* I)`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        \min_\Gamma R(\Gamma)
            = \frac{d \psi^2 (\psi^2 (d + 1) + \sigma^2)}{\psi^2 (n + d + 1) + \sigma^2}.
    """
    if psi2 >= sigma2:
        ratio = sigma2 / psi2
        shrink = ((d + 1) + ratio) / ((n + d + 1) + ratio)
    else:
        ratio = psi2 / sigma2
        shrink = ((d + 1) * ratio + 1) / ((n + d + 1) * ratio + 1)
    return psi2 * (d * shrink)


def _square_matrix(name: str, value) -> np.ndarray:
    gamma = array(name, value)
    if gamma.ndim != 2 or gamma.shape[0] != gamma.shape[1] or gamma.shape[0] < 1:
        raise ValueError(f"{name} must be a square (d, d) matrix, got shape {gamma.shape}")
    return value


def _draw_gamma(rng: np.random.Generator) -> np.ndarray:
    d = int(rng.choice([1, 2, 3, 5, 8, 20]))
    scale = 10.0 ** rng.uniform(-6, 6)
    gamma = rng.standard_normal((d, d)) * scale
    return gamma if rng.random() < 0.5 else np.eye(d) + 1e-6 * gamma / scale


@declare(
    Accuracy(
        relative=1e-13,
        absolute=1e-322,
        note="||Gamma - I||_F^2 + (d + 1)/n ||Gamma||_F^2 and ||Gamma||_F^2, sums of squares "
        "(relative error a few d x 1e-16)",
    ),
    gamma=Given(
        "a square (d, d) array or tensor of finite real numbers",
        check=_square_matrix,
        bad=(np.ones((2, 3)), np.zeros((0, 0)), np.array([[np.inf]])),
        draw=_draw_gamma,
    ),
    n=_SIZE,
    sigma2=_SIGMA2,
    psi2=_PSI2,
)
def preconditioned_risk(gamma, n: int, sigma2: float, *, psi2: float = 1.0) -> float:
    r"""Risk of one preconditioned GD step, :math:`\mathbb{E}\|\Gamma X^\top y / n - w\|^2`.

    Parameters
    ----------
    gamma : array_like or torch.Tensor
        A square ``(d, d)`` array or tensor of finite reals: any preconditioner, not necessarily
        symmetric.
    n : int
        Number of in-context examples, :math:`n \ge 1`.
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.

    Returns
    -------
    risk : float
        The parameter risk :math:`R(\Gamma)`.

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).

    Notes
    -----
    .. math::

        R(\Gamma) = \psi^2 \Big[\frac{n + d + 1}{n} \|\Gamma\|_F^2 - 2 \operatorname{tr}\Gamma
            + d\Big] + \frac{\sigma^2}{n} \|\Gamma\|_F^2,

    evaluated as

    .. math::

        \psi^2 \Big[\|\Gamma - I\|_F^2 + \frac{d + 1}{n} \|\Gamma\|_F^2\Big]
            + \frac{\sigma^2}{n} \|\Gamma\|_F^2.
    """
    gamma = array("gamma", gamma)
    d = gamma.shape[0]
    frob2 = float(np.sum(gamma**2))
    off = float(np.sum((gamma - np.eye(d)) ** 2))
    return psi2 * (off + (d + 1) / n * frob2) + sigma2 / n * frob2


@declare(_CLOSED_FORM, n=_SIZE, d=Integer(1, 4096), sigma2=_SIGMA2, psi2=_PSI2)
def optimal_preconditioner(n: int, d: int, sigma2: float, *, psi2: float = 1.0) -> np.ndarray:
    r"""The minimiser :math:`\Gamma^* = \eta^* I_d` of :func:`preconditioned_risk`.

    Optimal for isotropic :math:`x` and prior.

    Parameters
    ----------
    n : int
        Number of in-context examples, :math:`n \ge 1`.
    d : int
        Dimension, :math:`1 \le d \le 4096`: the result is a dense ``(d, d)`` array (134 MB at
        :math:`d = 4096`).
    sigma2 : float
        Label-noise variance :math:`\sigma^2 \ge 0`.
    psi2 : float, optional
        Prior variance :math:`\psi^2 > 0` of :math:`w \sim N(0, \psi^2 I_d)`; default 1.

    Returns
    -------
    gamma : numpy.ndarray
        The ``(d, d)`` array :math:`\eta^* I_d` (see :func:`optimal_step`).

    Raises
    ------
    ValueError
        If an argument lies outside its range (see "Domain and accuracy" below).
    """
    return _optimal_step(n, d, sigma2, psi2) * np.eye(d)
