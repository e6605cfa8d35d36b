"""Chains of gradient-descent thoughts, decoded greedily or with noise injection (Chapters 2 to 4).

The thought-emitting transformer (Chapter 2) emits the iterates of gradient
descent on the in-context least-squares loss, with the gradient divided by n:

    w_{t+1} = w_t - eta * (X^T (X w_t - y) / n + lam * w_t),    w_0 = 0.

Sampled decoding is simulated by injecting noise into what the model emits
(Chapter 3); ``noise`` selects how:

- ``"none"``: greedy decoding, the iterate itself;
- ``"additive"``: the emitted thought is w_{t+1} + level * xi_t, xi_t ~ N(0, I_d),
  and it is the next step's input;
- ``"multiplicative"`` (the authors' prototype's case 1): the update uses
  g_t + (xi_t^T w_t) xi_t with xi_t ~ N(0, level^2 I_d), whose mean is
  g_t + level^2 w_t, a ridge penalty lam = level^2 on average.

Shapes: ``X (B, n, d)``, ``y (B, n)``; chains come out as ``(B, N, d)`` (or
``(B, N, steps + 1, d)`` with ``return_path``), N independent chains per prompt.
All chains of all prompts advance together, one batched matrix product a step. Their average,
and nested averages of the first N chains, are :func:`icl.techniques.nested_averages`.
"""

from __future__ import annotations

import torch

from icl import runtime
from icl.domain import Accuracy, Choice, Condition, Flag, Given, Integer, Real, declare
from icl.validation import entries, prompt_batch, work
from icl.validation import generator as _generator

NOISES = ("none", "additive", "multiplicative")


def _moments(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = prompt_batch(X, y)[1]
    return X.transpose(1, 2) @ X / n, torch.einsum("bnd,bn->bd", X, y) / n


@declare(
    Accuracy(
        exact=False,
        note="noise='none': the GD iterates in X's dtype, one fused product a step (round-off "
        "at most about 64 (T + 1) d eps max_t |w_t|); noisy decoding adds exact N(0, 1) draws "
        "(icl.runtime.standard_normal): level xi_t (additive), or "
        "-eta level^2 (z_t^T w_t) z_t (multiplicative), to that recursion",
    ),
    X=Given("float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite"),
    y=Given("float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite"),
    eta=Real(0.0, open_low=True),
    steps=Integer(0, 10**6),
    n_chains=Integer(1),
    lam=Real(0.0),
    noise=Choice(NOISES),
    level=Real(0.0),
    generator=Given("a torch.Generator on X's device (required unless noise='none')", bad=(0, "x")),
    return_path=Flag(),
    where=[
        Condition(
            "level > 0 exactly where noise is not 'none' (level applies to noisy decoding only)",
            lambda noise, level: (noise == "none") == (level == 0.0),
            {"noise": "additive", "level": 0.0},
        ),
    ],
)
def sample_chains(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float,
    steps: int,
    n_chains: int = 1,
    lam: float = 0.0,
    noise: str = "none",
    level: float = 0.0,
    generator: torch.Generator | None = None,
    return_path: bool = False,
) -> torch.Tensor:
    """Run ``n_chains`` chains of ``steps`` GD thoughts per prompt, decoded with ``noise`` at
    ``level``.

    Returns the final thoughts ``(B, N, d)``, or with ``return_path`` every
    thought including w_0 = 0, ``(B, N, steps + 1, d)``. ``eta > 0``; noisy decoding draws from
    ``generator`` (required unless ``noise='none'``, where ``level`` must stay 0). Also refused:
    more than 2^27 entries out (B * n_chains * d, times steps + 1 with ``return_path``), more than
    2^40 multiply-adds (steps * B * n_chains * d^2), and chains whose iterates overflow X's dtype
    (a step size or a noise level at which they diverge that far).
    """
    batch, _, d = prompt_batch(X, y)
    _generator("generator", generator, required=noise != "none", device=X.device)
    if return_path:
        entries("B * n_chains * (steps + 1) * d", batch * n_chains * (steps + 1) * d)
    entries("B * n_chains * d", batch * n_chains * d)
    work("steps * B * n_chains * d^2", steps * batch * n_chains * d * d)
    gram, xty = _moments(X, y)
    # One fused product a step: w_{t+1} = w_t A + c, with A = (1 - eta lam) I - eta gram (symmetric)
    # and c = eta X^T y / n.
    step = (1 - eta * lam) * torch.eye(d, device=X.device, dtype=X.dtype) - eta * gram
    shift = (eta * xty).unsqueeze(1)
    w = torch.zeros(batch, n_chains, d, device=X.device, dtype=X.dtype)
    path = [w] if return_path else None
    for _ in range(steps):
        w_next = torch.baddbmm(shift, w, step)
        if noise == "multiplicative":  # - eta (xi^T w) xi with xi = level z, z ~ N(0, I)
            z = runtime.standard_normal(w.shape, generator=generator, dtype=w.dtype)
            w_next.addcmul_((z * w).sum(-1, keepdim=True), z, value=-eta * level**2)
        elif noise == "additive":
            w_next.add_(
                runtime.standard_normal(w.shape, generator=generator, dtype=w.dtype),
                alpha=level,
            )
        w = w_next
        if return_path:
            path.append(w)
    low, high = torch.aminmax(w)  # iterates that grew past the dtype turn inf, then NaN
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        raise ValueError(
            f"the chains diverge: their iterates overflow {X.dtype} within {steps} steps "
            f"(eta = {eta:g}, lam = {lam:g}, level = {level:g}); take a smaller eta or level"
        )
    return torch.stack(path, dim=2) if return_path else w
