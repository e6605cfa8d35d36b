"""Decoding the trained :class:`~icl.models.softmax_transformer.CoefficientDecoder` at a
temperature.

Sampling is autoregressive over the d answer positions only: the example
tokens are encoded once per prompt and their keys and values are shared by
all N samples of that prompt. At position j each of the ``B * N`` sequences
draws token + with probability ``softmax(logits / T)_+ = sigmoid(m_j / T)``;
``T = 0`` is greedy decoding (the larger logit; + on a tie).

For small d, :func:`enumerate_margins` runs the network on the whole binary
tree of prefixes (2^j sequences at depth j, 2^d - 1 in all) and returns the
margin ``m_j(v_<j)`` along every path, so that the exact answer distribution
at any temperature is

    log P_T(v) = sum_j log sigmoid(v_j m_j(v_<j) / T)      (:func:`log_probs_at`),

in the row order of :func:`icl.decoders.answer_distribution.sign_vectors`.
Shapes: ``X (B, n, d)``, ``y (B, n)``; samples ``(B, N, d)`` of +-1. Votes and best-of-N over
the samples are in :mod:`icl.techniques`.
"""

from __future__ import annotations

import torch

from icl.decoders.answer_distribution import MAX_ENUMERATED_D, sign_vectors
from icl.models.softmax_transformer import CoefficientDecoder
from icl.validation import generator as _generator
from icl.validation import integer, module, positive, prompt_batch, real, tensor


def _start(model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor):
    if not isinstance(model, CoefficientDecoder):
        raise TypeError(f"model must be a CoefficientDecoder, got {type(model).__name__}")
    prompt_batch(X, y)
    context = model.encode(X, y)
    return context, model.answer_inputs(None, 0).expand(X.shape[0], 1, -1)


def _margin(logits: torch.Tensor) -> torch.Tensor:
    return (logits[..., 0] - logits[..., 1]).double()


@torch.no_grad()
def sample_coefficients(
    model: CoefficientDecoder,
    X: torch.Tensor,
    y: torch.Tensor,
    n_samples: int,
    temperature: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_samples`` answers per prompt at temperature ``temperature`` (0: greedy).

    Returns the signs ``(B, N, d)`` (float64, +-1) and the probability
    ``softmax(logits / T)_+`` with which each was drawn, given its own prefix,
    ``(B, N, d)``. ``generator`` (required when ``temperature > 0``; unused when greedy) must
    live on the model's device.
    """
    n_samples = integer("n_samples", n_samples)
    temperature = real("temperature", temperature, minimum=0.0)
    module("model", model, CoefficientDecoder)
    if temperature > 0:
        _generator("generator", generator, device=model.head.weight.device)
    context, inputs = _start(model, X, y)
    inputs = inputs.expand(-1, n_samples, -1)
    B, d = X.shape[0], model.d
    signs = torch.empty(B, n_samples, d, dtype=torch.float64, device=inputs.device)
    probs = torch.empty_like(signs)
    prefix = None
    for j in range(d):
        if j > 0:
            inputs = model.answer_inputs(signs[:, :, j - 1], j)
        logits, prefix = model.step(inputs, context, prefix)
        if temperature == 0:
            p_plus = (logits[..., 0] >= logits[..., 1]).double()
            signs[:, :, j] = 2 * p_plus - 1
        else:
            logits = logits.double()  # sigmoid(m / T): 0 or 1 where m / T overflows
            p_plus = torch.sigmoid((logits[..., 0] - logits[..., 1]) / temperature)
            u = torch.rand(
                p_plus.shape, generator=generator, device=p_plus.device, dtype=p_plus.dtype
            )
            signs[:, :, j] = torch.where(u < p_plus, 1.0, -1.0)
        probs[:, :, j] = p_plus
    return signs, probs


def greedy_coefficients(
    model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Greedy decoding (argmax at every position), shape ``(B, d)``."""
    return sample_coefficients(model, X, y, 1, 0.0, None)[0][:, 0]


@torch.no_grad()
def enumerate_margins(model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The margin ``m_j(v_<j)`` for every v in {-1, +1}^d and position j, shape ``(B, 2^d, d)``
    (float64); d <= 16 (``MAX_ENUMERATED_D``: the tree has 2^d - 1 nodes)."""
    if isinstance(model, CoefficientDecoder) and model.d > MAX_ENUMERATED_D:
        raise ValueError(
            f"model.d must be <= {MAX_ENUMERATED_D} to enumerate {{-1, +1}}^d, got {model.d}"
        )
    context, inputs = _start(model, X, y)
    d, prefix, levels = model.d, None, []
    for j in range(d):
        if j > 0:
            previous = (
                torch.tensor([1.0, -1.0], device=inputs.device)
                .repeat(2 ** (j - 1))
                .expand(X.shape[0], -1)
            )
            inputs = model.answer_inputs(previous, j)
        logits, prefix = model.step(inputs, context, prefix)
        levels.append(_margin(logits))  # (B, 2^j)
    return torch.stack(
        [m.repeat_interleave(2 ** (d - j), dim=1) for j, m in enumerate(levels)], dim=-1
    )


def log_probs_at(margins: torch.Tensor, temperature: float) -> torch.Tensor:
    """log P_T(v) = sum_j log sigmoid(v_j m_j / T) from ``margins (B, 2^d, d)``; shape ``(B,
    2^d)``."""
    temperature = positive("temperature", temperature)
    tensor("margins", margins, ndim=3)
    if margins.shape[1] != 2 ** margins.shape[2]:
        raise ValueError(f"margins must be (B, 2^d, d), got shape {tuple(margins.shape)}")
    v = sign_vectors(margins.shape[2], device=margins.device, dtype=margins.dtype)
    return torch.nn.functional.logsigmoid(v * margins / temperature).sum(-1)
