r"""Samplers of in-context linear-regression prompts.

A prompt holds :math:`n` examples :math:`(x_i, y_i)` and a query :math:`x_q` of one task
:math:`w`:

.. math::

    x_i, x_q \sim \mathcal N(0, I_d) \text{ i.i.d.}, \qquad
    y_i = \langle w, x_i \rangle + \sigma \varepsilon_i, \qquad \varepsilon_i \sim \mathcal N(0, 1),

with ``sigma2`` :math:`= \sigma^2`. Shapes are batched over prompts: ``X`` is ``(batch, n, d)``,
``y`` is ``(batch, n)``, ``w`` is ``(batch, d)``. Every draw uses the ``torch.Generator`` passed in,
so a seed fixes the draw on a device (``generator=None`` draws from torch's global generator: not
repeatable unless seeded globally).

Priors on :math:`w` (``prior=``):

- ``"gaussian"``: :math:`\mathcal N(0, \psi^2 I_d)`;
- ``"rademacher"``: uniform on :math:`\{-1, +1\}^d`;
- ``"sparse-binary"``: a uniform :math:`k`-subset of coordinates set to 1, the rest 0;
- ``"sparse-gaussian"``: a uniform :math:`k`-subset with :math:`\mathcal N(0, 1)` entries, the
  rest 0.

A fixed task for every prompt (:func:`sample_prompts_for_tasks` with ``w.expand(B, -1)``) serves
the authors' prototype's sparse experiment, whose task is :func:`prototype_support`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from icl import runtime
from icl.domain import Accuracy, Choice, Condition, Given, Integer, Real, declare
from icl.validation import MAX_ENTRIES, choice, integer, tensor
from icl.validation import device as _device
from icl.validation import generator as _generator

PRIORS = ("gaussian", "rademacher", "sparse-binary", "sparse-gaussian")
PSI = Real(1e-15, 1e15)  # psi z stays a normal float32 number, and y = X w finite
SIGMA2 = Real(0.0, 1e30)
W_BOUND = 1e17  # |w| at most this (psi z included): y = X w stays finite in float32
SIZE = Integer(1, MAX_ENTRIES)
GENERATOR = Given("None (torch's global generator) or a torch.Generator", bad=(0, "x"))
DEVICE = Given("None (the generator's device, else the run's) or a device", bad=("nowhere",))
DTYPE = Given("None (the run's dtype) or torch.float32 or torch.float64", bad=(torch.int64,))
ENTRIES = "(at most 2^27 entries, 1 GiB of float64)"


def _psi(name: str, value):
    return None if value is None else PSI.validate(name, value)


def _fits(*sizes: int) -> bool:
    return math.prod(sizes) <= MAX_ENTRIES


@dataclass(frozen=True)
class Prompts:
    """A batch of prompts of one regression task each.

    Attributes
    ----------
    X : torch.Tensor
        The examples' inputs, ``(B, n, d)``.
    y : torch.Tensor
        The examples' labels, ``(B, n)``.
    w : torch.Tensor
        The tasks, ``(B, d)``.
    x_query : torch.Tensor
        The queries, ``(B, d)``.
    y_query : torch.Tensor
        The queries' labels, ``(B,)``.
    """

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor


def _resolve(device, dtype, generator):
    _generator("generator", generator, required=False)
    if device is not None:
        _device("device", device)
    if dtype is not None:
        choice("dtype", dtype, (torch.float32, torch.float64))
    dev = (
        torch.device(device)
        if device is not None
        else (generator.device if generator is not None else runtime.device())
    )
    dt = dtype if dtype is not None else runtime.dtype(dev)
    if dt not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dt}")
    if generator is not None and generator.device.type != dev.type:
        raise ValueError(f"generator is on {generator.device} but device is {dev}")
    return dev, dt


PRIOR_DRAWS = Accuracy(
    exact=False,
    note="each row is an exact draw of the prior in the dtype: gaussian psi z with z ~ N(0, 1) "
    "(icl.runtime.standard_normal); rademacher uniform on {-1, +1}^d; the sparse priors "
    "a uniform k-subset (the top k of d uniforms) set to 1 or to N(0, 1) draws",
)


@declare(
    PRIOR_DRAWS,
    batch=SIZE,
    d=SIZE,
    prior=Choice(PRIORS),
    psi=Given(
        f"None (1) or a real number {PSI.describe_range()}; gaussian prior only",
        check=_psi,
        bad=(0.0, 1e16, math.nan),
    ),
    k=Given("None or an integer in [1, d]; the sparse priors only (and needed there)", bad=(1,)),
    generator=GENERATOR,
    device=DEVICE,
    dtype=DTYPE,
    where=[
        Condition(
            f"batch * d <= 2^27 {ENTRIES}",
            lambda batch, d: _fits(batch, d),
            {"batch": 2**14, "d": 2**14},
        ),
    ],
)
def sample_weights(
    batch: int,
    d: int,
    prior: str = "gaussian",
    *,
    psi: float | None = None,
    k: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Draw ``batch`` task vectors :math:`w` of dimension ``d`` from ``prior``.

    Parameters
    ----------
    batch : int
        Number of task vectors.
    d : int
        Their dimension.
    prior : {"gaussian", "rademacher", "sparse-binary", "sparse-gaussian"}
        The prior (see the module docstring).
    psi : float, optional
        Standard deviation :math:`\psi` of the ``gaussian`` prior (default 1); refused for the
        other priors, where it does not apply.
    k : int, optional
        Number of non-zero coordinates of the sparse priors, :math:`1 \le k \le d` (needed
        there, refused elsewhere).
    generator : torch.Generator, optional
        The generator every draw uses (``None``: torch's global generator).
    device : torch.device or str, optional
        Device of the result (``None``: the generator's, else the run's).
    dtype : torch.dtype, optional
        ``torch.float32`` or ``torch.float64`` (``None``: the run's dtype).

    Returns
    -------
    torch.Tensor
        The tasks, shape ``(batch, d)``.

    Raises
    ------
    ValueError
        ``psi`` or ``k`` given to a prior that does not use it, ``k`` missing for a sparse prior
        or above ``d``, a generator on another device than ``device``.
    """
    if prior == "gaussian":
        psi = 1.0 if psi is None else psi
    elif psi is not None:
        raise ValueError(f"psi is only used by the gaussian prior, not by {prior!r}")
    if prior.startswith("sparse"):
        if k is None:
            raise ValueError(f"prior {prior!r} needs k, the number of non-zero coordinates")
        k = integer("k", k)
        if k > d:
            raise ValueError(f"k must be <= d = {d}, got {k}")
    elif k is not None:
        raise ValueError(f"k is only used by the sparse priors, not by {prior!r}")
    dev, dt = _resolve(device, dtype, generator)
    if prior == "gaussian":
        return psi * runtime.standard_normal((batch, d), generator=generator, device=dev, dtype=dt)
    if prior == "rademacher":
        bits = torch.randint(0, 2, (batch, d), generator=generator, device=dev)
        return (2 * bits - 1).to(dt)
    support = torch.rand(batch, d, generator=generator, device=dev).topk(k, dim=1).indices
    values = torch.ones(batch, k, device=dev, dtype=dt)
    if prior == "sparse-gaussian":
        values = runtime.standard_normal((batch, k), generator=generator, device=dev, dtype=dt)
    return torch.zeros(batch, d, device=dev, dtype=dt).scatter_(1, support, values)


PROMPT_DRAWS = Accuracy(
    exact=False,
    note="exact draws in the dtype: w from the prior (sample_weights), x_i and x_q ~ N(0, I_d), "
    "y = <w, x> + sqrt(sigma2) eps with eps ~ N(0, 1)",
)


@declare(
    PROMPT_DRAWS,
    batch=SIZE,
    n=SIZE,
    d=SIZE,
    prior=Choice(PRIORS),
    sigma2=SIGMA2,
    psi=Given(
        f"None (1) or a real number {PSI.describe_range()}; gaussian prior only",
        check=_psi,
        bad=(0.0, 1e16),
    ),
    k=Given("None or an integer in [1, d]; the sparse priors only (and needed there)", bad=(1,)),
    generator=GENERATOR,
    device=DEVICE,
    dtype=DTYPE,
    where=[
        Condition(
            f"batch * (n + 1) * d <= 2^27 {ENTRIES}",
            lambda batch, n, d: _fits(batch, n + 1, d),
            {"batch": 2**10, "n": 2**10, "d": 2**7},
        ),
    ],
)
def sample_prompts(
    batch: int,
    n: int,
    d: int,
    *,
    prior: str = "gaussian",
    sigma2: float = 0.0,
    psi: float | None = None,
    k: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Prompts:
    r"""Draw ``batch`` prompts of ``n`` examples in dimension ``d`` with label-noise variance
    ``sigma2``.

    Parameters
    ----------
    batch : int
        Number of prompts.
    n : int
        Examples per prompt.
    d : int
        Dimension of the inputs and tasks.
    prior : {"gaussian", "rademacher", "sparse-binary", "sparse-gaussian"}
        Prior of the tasks (:func:`sample_weights`).
    sigma2 : float
        Label-noise variance :math:`\sigma^2`.
    psi : float, optional
        Standard deviation of the ``gaussian`` prior (default 1).
    k : int, optional
        Non-zero coordinates of the sparse priors.
    generator : torch.Generator, optional
        The generator every draw uses.
    device : torch.device or str, optional
        Device of the result.
    dtype : torch.dtype, optional
        ``torch.float32`` or ``torch.float64``.

    Returns
    -------
    Prompts
        The prompts, with the query likewise labelled.

    Notes
    -----
    :math:`y = X w + \sqrt{\sigma^2}\, \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I_n)`,
    and likewise for the query.
    """
    w = sample_weights(
        batch, d, prior, psi=psi, k=k, generator=generator, device=device, dtype=dtype
    )
    return sample_prompts_for_tasks(w, n, sigma2=sigma2, generator=generator)


def _tasks(name: str, value):
    """A task batch ``(B, d)``: a float32 or float64 tensor of finite entries, |w| <= 1e15."""
    if (
        not isinstance(value, torch.Tensor)
        or value.ndim != 2
        or value.dtype not in (torch.float32, torch.float64)
    ):
        raise ValueError(
            f"{name} must be a float32 or float64 tensor of shape (B, d), "
            f"got {getattr(value, 'shape', value)}"
        )
    tensor(name, value, ndim=2)
    if float(value.abs().max()) > W_BOUND:
        raise ValueError(f"{name} must have entries of magnitude at most 1e17")
    return value


@declare(
    Accuracy(
        exact=False,
        note="exact draws in w's dtype: x_i and x_q ~ N(0, I_d), "
        "y = <w, x> + sqrt(sigma2) eps with eps ~ N(0, 1); w returned as given",
    ),
    w=Given(
        "float32 or float64 tensor (B, d) of finite entries of magnitude at most 1e17",
        check=_tasks,
        bad=(torch.full((2, 3), 1e18),),
    ),
    n=SIZE,
    sigma2=SIGMA2,
    generator=GENERATOR,
    where=[
        Condition(
            f"B * (n + 1) * d <= 2^27 {ENTRIES}",
            lambda w, n: _fits(w.shape[0], n + 1, w.shape[1]),
            {"w": torch.zeros(1, 2**7).expand(2**12, -1), "n": 2**8},
        ),
    ],
)
def sample_prompts_for_tasks(
    w: torch.Tensor, n: int, *, sigma2: float = 0.0, generator: torch.Generator | None = None
) -> Prompts:
    r"""Draw one prompt of ``n`` examples for each given task, on its device and in its dtype.

    Parameters
    ----------
    w : torch.Tensor
        The tasks, ``(B, d)``, float32 or float64.
    n : int
        Examples per prompt.
    sigma2 : float
        Label-noise variance :math:`\sigma^2`.
    generator : torch.Generator, optional
        The generator every draw uses (on ``w``'s device).

    Returns
    -------
    Prompts
        One prompt per row of ``w``; ``w`` is returned as given.

    Raises
    ------
    ValueError
        A generator on another device than ``w``.

    Notes
    -----
    :func:`sample_prompts` is :func:`sample_weights` followed by this; a fixed task (the same
    ``w`` in every row, as the authors' prototype's sparse experiment uses) is
    ``w.expand(B, -1)``. The labels are :math:`y = \langle w, x \rangle + \sqrt{\sigma^2}\,
    \varepsilon` with :math:`x \sim \mathcal N(0, I_d)`, :math:`\varepsilon \sim \mathcal N(0, 1)`.
    """
    _generator("generator", generator, required=False)
    if generator is not None and generator.device.type != w.device.type:
        raise ValueError(f"generator is on {generator.device} but w is on {w.device}")
    (batch, d), dev, dt = w.shape, w.device, w.dtype
    X = runtime.standard_normal((batch, n + 1, d), generator=generator, device=dev, dtype=dt)
    eps = runtime.standard_normal((batch, n + 1), generator=generator, device=dev, dtype=dt)
    y = torch.einsum("bnd,bd->bn", X, w) + math.sqrt(sigma2) * eps
    return Prompts(X=X[:, :n], y=y[:, :n], w=w, x_query=X[:, n], y_query=y[:, n])


@declare(
    Accuracy(relative=1e-15, note="exact: ones at 0, s, ..., (k - 1) s, zeros elsewhere"),
    d=SIZE,
    k=Integer(1),
    where=[Condition("k <= d", lambda d, k: k <= d, {"d": 4, "k": 5})],
)
def prototype_support(d: int, k: int) -> torch.Tensor:
    r"""The authors' prototype's fixed task: ones at coordinates :math:`0, s, 2s, \dots, (k-1)s`.

    Parameters
    ----------
    d : int
        Dimension of the task.
    k : int
        Number of ones, :math:`k \le d`.

    Returns
    -------
    torch.Tensor
        The task, shape ``(d,)``, float64, on the CPU.

    Notes
    -----
    The spacing is :math:`s = \lfloor d / k \rfloor`. For :math:`d = 50`, :math:`k = 5` the ones
    sit at 0, 10, 20, 30, 40 (the prototype's ``w[:, ::10] = 1``), code
    :math:`2^0 + 2^{10} + 2^{20} + 2^{30} + 2^{40}` under
    :func:`icl.decoders.sparse_chains.support_codes`.
    """
    w = torch.zeros(d, dtype=torch.float64)
    w[torch.arange(k) * (d // k)] = 1.0
    return w
