r"""Chains of thought over sparse binary supports (Chapter 6), and integer codes of their answers.

The authors' prototype's case 2: the task is :math:`w \in \{0, 1\}^d` with :math:`k` ones, and
each thought is a support of :math:`k` coordinates. From the current support :math:`w_t`
(:math:`w_0 = 0`) a step of gradient descent, with the gradient divided by :math:`n` as in
:mod:`icl.decoders.gd_chains`,

.. math::

    v = w_t - \frac{\eta}{n} X^\top (X w_t - y),

is clipped at ``clip`` (so every coordinate keeps a positive weight) and decoded into the next
support :math:`w_{t+1}`:

- sampled decoding: :math:`k` indices drawn without replacement, each draw in proportion to the
  remaining weights (all :math:`k` at once by exponential clocks,
  :func:`draw_without_replacement`);
- greedy decoding: the :math:`k` largest weights.

The clipped weights are not normalised: neither decoding depends on their scale, so normalising
them to sum 1 would give the same supports.

(The prototype writes the step as :math:`\eta' X^\top (X w - y)` without the :math:`1/n` and
takes :math:`\eta' = 1/n`, which is ``eta = 1`` here.)

Shapes: ``X (B, n, d)``, ``y (B, n)``; supports come out as 0/1 tensors ``(B, N, d)``,
:math:`N` independent chains per prompt, all advanced together. :func:`support_codes` turns
supports into integers, so that votes (:func:`icl.techniques.plurality_vote`) can count them. The
one-step probabilities in closed form are :mod:`icl.theory.sparse_chains`.
"""

from __future__ import annotations

import torch

from icl.domain import Accuracy, Flag, Given, Integer, Real, declare
from icl.validation import (
    binary,
    entries,
    prompt_batch,
    tensor,
    work,
)
from icl.validation import (
    generator as _generator,
)

MAX_CODE_DIM = 62
# Positive weights in this range take the fast key log(U) / w in their own dtype (no key
# overflows or underflows, float32 included); others take log w - log(-log U) in float64.
CLOCK_RANGE = (1e-30, 1e30)


PROMPTS = "float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite"
GENERATOR = Given("a torch.Generator on the tensors' device (required unless greedy)", bad=(0, "x"))
SET_LAW = (
    "k indices drawn without replacement, each draw in proportion to the remaining weights "
    "(exponential clocks: the exact sequential law, the keys rounded in the weights' dtype or "
    "in float64), or the k largest weights (greedy)"
)


@declare(
    Accuracy(
        exact=False,
        note="each step: the GD weights w - eta (X^T X w - X^T y) / n in X's dtype, clipped at "
        f"clip, then {SET_LAW}",
    ),
    X=Given(PROMPTS),
    y=Given(PROMPTS),
    k=Integer(1),
    eta=Real(0.0, open_low=True),
    steps=Integer(1, 10**6),
    n_chains=Integer(1),
    greedy=Flag(),
    clip=Real(1e-30, 1e30),
    generator=GENERATOR,
)
def sparse_binary_chains(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    k: int,
    eta: float,
    steps: int,
    n_chains: int = 1,
    greedy: bool = False,
    clip: float = 1e-10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Run ``n_chains`` chains of ``steps`` support-valued thoughts per prompt.

    Parameters
    ----------
    X : torch.Tensor
        The prompts' inputs, float32 or float64 ``(B, n, d)``.
    y : torch.Tensor
        Their labels, ``(B, n)``.
    k : int
        Ones per support, :math:`k \le d`.
    eta : float
        The step size :math:`\eta`.
    steps : int
        Thoughts per chain.
    n_chains : int
        Chains per prompt, :math:`N`.
    greedy : bool
        Greedy decoding: every chain of a prompt is then the same deterministic chain, and
        ``n_chains`` only repeats it.
    clip : float
        The floor :math:`c` of the weights, in :math:`[10^{-30}, 10^{30}]`, so that every
        coordinate keeps a positive weight.
    generator : torch.Generator, optional
        On ``X``'s device; required for sampled decoding.

    Returns
    -------
    torch.Tensor
        The final supports, 0/1 ``(B, N, d)``.

    Raises
    ------
    ValueError
        :math:`k > d`, chains of more than :math:`2^{27}` entries (:math:`B N d`), more than
        :math:`2^{40}` multiply-adds (:math:`T B N d^2`), and weights that could overflow
        ``X``'s dtype (:math:`\eta (k \max |X^\top X / n| + \max |X^\top y / n|)` above a
        quarter of its largest number).

    Notes
    -----
    Each step decodes the clipped weights :math:`\max(v, c)` (:math:`c` the ``clip``, no
    normalisation: neither decoding depends on the weights' scale) of
    :math:`v = w_t - \frac{\eta}{n} X^\top (X w_t - y)` with :func:`decode_support`.
    """
    batch, n, d = prompt_batch(X, y)
    if k > d:
        raise ValueError(f"k must be <= d = {d}, got {k}")
    _generator("generator", generator, required=not greedy, device=X.device)
    entries("B * n_chains * d", batch * n_chains * d)
    work("steps * B * n_chains * d^2", steps * batch * n_chains * d * d)
    gram = X.transpose(1, 2) @ X / n
    xty = torch.einsum("bnd,bn->bd", X, y).unsqueeze(1) / n
    largest = eta * (k * float(gram.abs().max()) + float(xty.abs().max()))
    if not largest <= torch.finfo(X.dtype).max / 4:
        raise ValueError(
            f"eta (k max |X^T X / n| + max |X^T y / n|) = {largest:.3g}: the chain's weights "
            f"could overflow {X.dtype} (X, y or eta too large)"
        )
    w = torch.zeros(batch, n_chains, d, device=X.device, dtype=X.dtype)
    for _ in range(steps):  # weights = w - eta (w gram - xty), clipped (gram is symmetric)
        weights = torch.baddbmm(w + eta * xty, w, gram, alpha=-eta).clamp_min_(clip)
        w = _decode(weights, k, greedy, generator)
    return w


WEIGHTS = (
    "float32 or float64 tensor (..., d), finite, >= 0, with at least k positive entries in "
    "every row, k <= d"
)


@declare(
    Accuracy(exact=False, note=SET_LAW),
    weights=Given(WEIGHTS),
    k=Integer(1),
    greedy=Flag(),
    generator=GENERATOR,
)
def decode_support(
    weights: torch.Tensor, k: int, *, greedy: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Decode non-negative ``weights`` into a support of :math:`k` ones.

    Parameters
    ----------
    weights : torch.Tensor
        Finite weights :math:`\ge 0`, ``(..., d)``, with at least :math:`k` positive entries per
        row; a zero weight is never chosen.
    k : int
        Ones per support.
    greedy : bool
        Greedy: the :math:`k` largest weights. Sampled: :math:`k` indices without replacement,
        each draw in proportion to the remaining weights (:func:`draw_without_replacement`).
    generator : torch.Generator, optional
        Required for sampled decoding.

    Returns
    -------
    torch.Tensor
        The supports, 0/1 ``(..., d)``.
    """
    _weights(weights, k)
    _generator("generator", generator, required=not greedy, device=weights.device)
    return _decode(weights, k, greedy, generator)


def _weights(weights: torch.Tensor, k: int) -> None:
    tensor("weights", weights, min_ndim=1)
    d = weights.shape[-1]
    if k > d:
        raise ValueError(f"k must be <= d = {d}, got {k}")
    if bool(weights.min() < 0):
        raise ValueError("weights must be non-negative")
    if bool(((weights > 0).sum(-1) < k).any()):
        raise ValueError(f"weights must have at least k = {k} positive entries in every row")


def _decode(
    weights: torch.Tensor, k: int, greedy: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """:func:`decode_support` on checked arguments."""
    support = weights.topk(k, dim=-1).indices if greedy else _draw(weights, k, generator)
    return torch.zeros_like(weights).scatter_(-1, support, 1.0)


@declare(
    Accuracy(
        exact=False,
        note="the ordered k-tuple has the exact sequential law (module docstring), up to the "
        "rounding of the keys in the weights' dtype (or float64 outside [1e-30, 1e30])",
    ),
    weights=Given(WEIGHTS),
    k=Integer(1),
    generator=Given("a torch.Generator on the weights' device", bad=(0, "x")),
)
def draw_without_replacement(
    weights: torch.Tensor, k: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Draw :math:`k` indices of ``weights`` without replacement, each draw in proportion to the
    remaining weights.

    Parameters
    ----------
    weights : torch.Tensor
        Finite, non-negative weights ``(..., d)`` with at least :math:`k` positive entries in
        each row.
    k : int
        Number of draws.
    generator : torch.Generator
        A ``torch.Generator`` on the weights' device (required).

    Returns
    -------
    torch.Tensor
        The indices in the order drawn, ``(..., k)``, int64.

    Notes
    -----
    Exponential clocks (equivalently, Gumbel top-:math:`k` on :math:`\log w`): with
    :math:`E_j \sim \mathrm{Exp}(1)` independent, the indices of the :math:`k` smallest
    :math:`E_j / w_j`, in increasing order, have the law of :math:`k` sequential draws,

    .. math::

        P(i_1, \dots, i_k) = \prod_{m=1}^k \frac{w_{i_m}}{W - w_{i_1} - \dots - w_{i_{m-1}}},
        \qquad W = \sum_j w_j:

    the first clock rings at :math:`j` with probability :math:`w_j / W`, and by memorylessness
    the race starts afresh among the others. The clocks are drawn by inversion,
    :math:`E_j = -\log U_j` with :math:`U_j` uniform (a uniform and a logarithm are several times
    cheaper than ``exponential_`` on a CPU; :math:`U_j = 0` is raised to the dtype's smallest
    normal number, so every clock is finite), and the :math:`k` largest keys are taken by one
    ``topk``, with no loop over the :math:`k` draws. The key is
    :math:`\log(U_j) / w_j = -E_j / w_j` in the weights' dtype where every positive weight lies
    in :math:`[10^{-30}, 10^{30}]` (no key overflows or underflows there), else the equivalent
    :math:`\log w_j - \log E_j` in float64, which orders the clocks of any positive weights,
    subnormal ones included. A zero weight never rings (its key is :math:`-\infty`, every other
    key is finite) while :math:`k` positive weights remain.
    """
    _weights(weights, k)
    _generator("generator", generator, device=weights.device)
    return _draw(weights, k, generator)


def _draw(weights: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """:func:`draw_without_replacement` on checked arguments."""
    uniform = torch.empty_like(weights).uniform_(generator=generator)
    uniform.clamp_min_(torch.finfo(weights.dtype).tiny)
    low, high = torch.aminmax(weights)
    if low == 0:  # the smallest positive weight
        low = torch.where(weights > 0, weights, high).amin()
    if low >= CLOCK_RANGE[0] and high <= CLOCK_RANGE[1]:
        keys = uniform.log_().div_(weights)
    else:
        keys = weights.double().log().sub_(uniform.double().log_().neg_().log_())
    return keys.topk(k, dim=-1).indices


@declare(
    Accuracy(relative=1e-15, note="exact: int64 arithmetic"),
    w=Given(
        "tensor (..., d) of 0s and 1s (float, integer or bool), d <= 62",
        bad=(torch.zeros(2, 63), torch.full((2, 3), 0.5)),
    ),
)
def support_codes(w: torch.Tensor) -> torch.Tensor:
    r"""Encode 0/1 vectors as integers, so that votes can count them.

    Parameters
    ----------
    w : torch.Tensor
        0/1 vectors ``(..., d)``, :math:`d \le 62`.

    Returns
    -------
    torch.Tensor
        The codes, ``(...)``, int64.

    Notes
    -----
    The code is :math:`\sum_j w_j 2^j`: two supports are equal exactly when their codes are.
    """
    w = binary("w", w, min_ndim=1)
    d = w.shape[-1]
    if d > MAX_CODE_DIM:
        raise ValueError(f"w must have d <= {MAX_CODE_DIM} coordinates, got d = {d}")
    powers = 2 ** torch.arange(d, device=w.device, dtype=torch.int64)
    return (w.to(torch.int64) * powers).sum(-1)
