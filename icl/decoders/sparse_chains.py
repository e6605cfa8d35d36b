"""Chains of thought over sparse binary supports (Chapter 6), and integer codes of their answers.

The authors' prototype's case 2: the task is w in {0, 1}^d with k ones, and each
thought is a support of k coordinates. From the current support w_t (w_0 = 0) a
step of gradient descent, with the gradient divided by n as in :mod:`icl.decoders.gd_chains`,

    v = w_t - eta * X^T (X w_t - y) / n,

is clipped at ``clip`` (so every coordinate keeps a positive weight), normalised
to sum 1, and decoded into the next support w_{t+1}:

- sampled decoding: k indices drawn without replacement, each draw in
  proportion to the remaining weights (all k at once by exponential clocks,
  :func:`draw_without_replacement`);
- greedy decoding: the k largest weights.

(The prototype writes the step as eta' X^T (X w - y) without the 1/n and takes
eta' = 1/n, which is ``eta = 1`` here.)

Shapes: ``X (B, n, d)``, ``y (B, n)``; supports come out as 0/1 tensors
``(B, N, d)``, N independent chains per prompt, all advanced together. :func:`support_codes` turns
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
    """Run ``n_chains`` chains of ``steps`` support-valued thoughts per prompt; return the final
    supports ``(B, N, d)``.

    With ``greedy`` every chain of a prompt is the same deterministic chain;
    ``n_chains`` then only repeats it. Also refused: k > d, chains of more than 2^27 entries
    (B * n_chains * d), more than 2^40 multiply-adds (steps * B * n_chains * d^2), and weights
    that could overflow X's dtype (eta (k max |X^T X / n| + max |X^T y / n|) above a quarter of
    its largest number).
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
    """Decode non-negative ``weights (..., d)`` into a support of k ones, shape ``(..., d)``.

    Greedy: the k largest weights. Sampled: k indices without replacement, each
    draw in proportion to the remaining weights (:func:`draw_without_replacement`), from
    ``generator`` (required). ``weights`` must be finite and >= 0 with at least k positive entries
    per row; a zero weight is never chosen.
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
    """Draw k indices of ``weights (..., d)`` without replacement, each draw in proportion to the
    remaining weights; return them in the order drawn, shape ``(..., k)``, int64.

    Exponential clocks (equivalently, Gumbel top-k on log w): with E_j ~ Exp(1) independent,
    the indices of the k smallest E_j / w_j, in increasing order, have the law of k sequential
    draws,

        P(i_1, ..., i_k) = prod_m w_{i_m} / (W - w_{i_1} - ... - w_{i_{m-1}}),  W = sum_j w_j:

    the first clock rings at j with probability w_j / W, and by memorylessness the race starts
    afresh among the others. The clocks are drawn by inversion, E_j = -log U_j with U_j uniform
    (a uniform and a logarithm are several times cheaper than ``exponential_`` on a CPU; U_j = 0
    is raised to the dtype's smallest normal number, so every clock is finite), and the k
    largest keys are taken by one ``topk``, with no loop over the k draws. The key is
    log(U_j) / w_j = -E_j / w_j in the weights' dtype where every positive weight lies in
    [1e-30, 1e30] (no key overflows or underflows there), else the equivalent
    log w_j - log E_j in float64, which orders the clocks of any positive weights, subnormal
    ones included. A zero weight never rings (its key is -inf, every other key is finite)
    while k positive weights remain. ``weights`` must be finite and non-negative with at least
    k positive entries in each row; ``generator`` (a ``torch.Generator`` on their device) is
    required.
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
    """Encode 0/1 vectors ``(..., d)`` (d <= 62) as integers sum_j w_j 2^j, shape ``(...)``, dtype
    int64.

    Two supports are equal exactly when their codes are, so votes can count codes.
    """
    w = binary("w", w, min_ndim=1)
    d = w.shape[-1]
    if d > MAX_CODE_DIM:
        raise ValueError(f"w must have d <= {MAX_CODE_DIM} coordinates, got d = {d}")
    powers = 2 ** torch.arange(d, device=w.device, dtype=torch.int64)
    return (w.to(torch.int64) * powers).sum(-1)
