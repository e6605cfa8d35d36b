r"""Chains of gradient-descent thoughts, decoded greedily or with noise injection (Chapters 2 to 4).

The thought-emitting transformer (Chapter 2) emits the iterates of gradient descent on the
in-context least-squares loss, with the gradient divided by :math:`n`:

.. math::

    w_{t+1} = w_t - \eta \Bigl(\frac1n X^\top (X w_t - y) + \lambda w_t\Bigr), \qquad w_0 = 0.

Sampled decoding is simulated by injecting noise into what the model emits (Chapter 3); ``noise``
selects how:

- ``"none"``: greedy decoding, the iterate itself;
- ``"additive"``: the emitted thought is :math:`w_{t+1} + \ell \xi_t`,
  :math:`\xi_t \sim \mathcal N(0, I_d)` (:math:`\ell` the ``level``), and it is the next step's
  input;
- ``"multiplicative"`` (the authors' prototype's case 1): the update uses
  :math:`g_t + (\xi_t^\top w_t) \xi_t` with :math:`\xi_t \sim \mathcal N(0, \ell^2 I_d)`, whose
  mean is :math:`g_t + \ell^2 w_t`, a ridge penalty :math:`\lambda = \ell^2` on average.

Shapes: ``X (B, n, d)``, ``y (B, n)``; chains come out as ``(B, N, d)`` (or
``(B, N, steps + 1, d)`` with ``return_path``), :math:`N` independent chains per prompt. All
chains of all prompts advance together, one batched matrix product a step. Their average, and
nested averages of the first :math:`N` chains, are :func:`icl.techniques.nested_averages`.
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
    r"""Run ``n_chains`` chains of ``steps`` GD thoughts per prompt, decoded with ``noise`` at
    ``level``.

    Parameters
    ----------
    X : torch.Tensor
        The prompts' inputs, float32 or float64 ``(B, n, d)``.
    y : torch.Tensor
        Their labels, ``(B, n)``, of ``X``'s dtype.
    eta : float
        The step size :math:`\eta > 0`.
    steps : int
        The number of thoughts :math:`T`.
    n_chains : int
        Independent chains per prompt, :math:`N`.
    lam : float
        Ridge penalty :math:`\lambda \ge 0`.
    noise : {"none", "additive", "multiplicative"}
        How the thoughts are decoded (module docstring).
    level : float
        The noise level :math:`\ell`; positive exactly where ``noise`` is not ``"none"``.
    generator : torch.Generator, optional
        On ``X``'s device; required unless ``noise="none"``.
    return_path : bool
        Return every thought, :math:`w_0 = 0` included.

    Returns
    -------
    torch.Tensor
        The final thoughts ``(B, N, d)``, or with ``return_path`` every thought,
        ``(B, N, steps + 1, d)``.

    Raises
    ------
    ValueError
        More than :math:`2^{27}` entries out (:math:`B N d`, times :math:`T + 1` with
        ``return_path``), more than :math:`2^{40}` multiply-adds (:math:`T B N d^2`), and chains
        whose iterates overflow ``X``'s dtype (a step size or a noise level at which they diverge
        that far).

    Notes
    -----
    The recursion of the module docstring, one fused product a step:
    :math:`w_{t+1} = w_t A + c` with :math:`A = (1 - \eta\lambda) I - \eta X^\top X / n` and
    :math:`c = \eta X^\top y / n`, plus the injected noise.
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
