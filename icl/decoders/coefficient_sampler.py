r"""Decoding the trained :class:`~icl.models.softmax_transformer.CoefficientDecoder` at a
temperature.

Sampling is autoregressive over the :math:`d` answer positions only: the example tokens are
encoded once per prompt and their keys and values are shared by all :math:`N` samples of that
prompt. At position :math:`j` each of the :math:`B N` sequences draws token + with probability
:math:`\operatorname{softmax}(\ell / T)_+ = \operatorname{sigmoid}(m_j / T)`, :math:`\ell` the
logits and :math:`m_j` their difference; :math:`T = 0` is greedy decoding (the larger logit; + on
a tie).

For small :math:`d`, :func:`enumerate_margins` runs the network on the whole binary tree of
prefixes (:math:`2^j` sequences at depth :math:`j`, :math:`2^d - 1` in all) and returns the
margin :math:`m_j(v_{<j})` along every path, so that the exact answer distribution at any
temperature is (:func:`log_probs_at`)

.. math::

    \log P_T(v) = \sum_j \log \operatorname{sigmoid}\big(v_j m_j(v_{<j}) / T\big),

in the row order of :func:`icl.decoders.answer_distribution.sign_vectors`. Shapes:
``X (B, n, d)``, ``y (B, n)``; samples ``(B, N, d)`` of :math:`\pm 1`. Votes and best-of-N over
the samples are in :mod:`icl.techniques`.
"""

from __future__ import annotations

import torch

from icl.decoders.answer_distribution import MAX_ENUMERATED_D, _sign_vectors
from icl.domain import Accuracy, Given, Integer, Real, declare
from icl.models.softmax_transformer import CoefficientDecoder
from icl.validation import MAX_ENTRIES, entries, module, prompt_batch, tensor
from icl.validation import generator as _generator

MODEL = Given(
    "a CoefficientDecoder",
    check=lambda name, value: module(name, value, CoefficientDecoder),
    bad=(3, "x"),
)
PROMPTS = "float32 or float64 tensors X (B, n, d) and y (B, n) of one dtype, finite, d = model.d"
FLOAT32 = "float32 inputs: 2^29 times larger, the ratio of the epsilons"


def _chunk(model: CoefficientDecoder, n: int, sequences: int, what: str) -> int:
    """How many prompts one pass of the network may take, so that a chunk's keys, values and
    activations (``sequences`` sequences per prompt, ``what`` names their count) stay within
    2^27 entries; ``ValueError`` when one prompt alone exceeds that."""
    c = model.config
    per_prompt = sequences * (c.width * (2 * c.d * c.layers + 4) + c.heads * n)
    entries(f"{what} * (width (2 d layers + 4) + heads n)", per_prompt)
    return MAX_ENTRIES // per_prompt


def _prompts(model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor) -> tuple[int, int, int]:
    """``(B, n, d)`` of prompts for ``model`` (d = model.d), or ``ValueError``."""
    batch, n, d = prompt_batch(X, y)
    if d != model.d:
        raise ValueError(
            f"expected X (B, n, {model.d}) and y (B, n), got {tuple(X.shape)} and {tuple(y.shape)}"
        )
    return batch, n, d


def _start(model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor):
    """The context's keys and values and the first answer input of prompts ``X``, ``y``."""
    context = model.encode(X, y)
    return context, model.answer_inputs(None, 0).expand(X.shape[0], 1, -1)


def _margin(logits: torch.Tensor) -> torch.Tensor:
    return (logits[..., 0] - logits[..., 1]).double()


@declare(
    Accuracy(
        exact=False,
        note="coefficient j is + with probability sigmoid(m_j / T), m_j = the difference of the "
        "model's two logits (in float64) given the sample's own prefix: T = 0 is greedy (the "
        "larger logit, + on a tie); where m_j / T overflows, 1{m_j > 0} (1/2 at m_j = 0), the "
        "limit T -> 0 of the sampler",
    ),
    model=MODEL,
    X=Given(PROMPTS),
    y=Given(PROMPTS),
    n_samples=Integer(1),
    temperature=Real(0.0),
    generator=Given("a torch.Generator on the model's device (unused when T = 0)", bad=(0,)),
)
@torch.no_grad()
def sample_coefficients(
    model: CoefficientDecoder,
    X: torch.Tensor,
    y: torch.Tensor,
    n_samples: int,
    temperature: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw answers at a temperature (0: greedy).

    Parameters
    ----------
    model : CoefficientDecoder
        The trained decoder.
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``, :math:`d` the model's.
    y : torch.Tensor
        Their labels, ``(B, n)``.
    n_samples : int
        Answers per prompt, :math:`N`.
    temperature : float
        :math:`T \ge 0`; 0 is greedy.
    generator : torch.Generator or None
        On the model's device; required when ``temperature > 0``, unused when greedy.

    Returns
    -------
    signs : torch.Tensor
        The answers, float64 :math:`\pm 1`, ``(B, N, d)``.
    probs : torch.Tensor
        The probability :math:`\operatorname{softmax}(\ell / T)_+` with which each sign was drawn,
        given its own prefix, ``(B, N, d)``.

    Raises
    ------
    ValueError
        More than :math:`2^{27}` entries out (:math:`B N d`), or one prompt's sequences alone over
        that bound; prompts whose :math:`d` is not the model's.

    Notes
    -----
    The uniforms are drawn first, one ``(B, N)`` tensor per position (the same stream as position
    by position), and the prompts then pass through the network in chunks whose keys, values and
    activations stay within :math:`2^{27}` entries, so that memory stays bounded and the draws do
    not depend on the chunks.
    """
    batch, n, d = _prompts(model, X, y)
    if temperature > 0:
        _generator("generator", generator, device=model.head.weight.device)
    entries("B * n_samples * d", batch * n_samples * d)
    chunk = _chunk(model, n, n_samples, "n_samples")
    device = model.head.weight.device
    uniforms = [
        torch.rand((batch, n_samples), generator=generator, device=device, dtype=torch.float64)
        for _ in range(d if temperature > 0 else 0)
    ]
    signs = torch.empty(batch, n_samples, d, dtype=torch.float64, device=device)
    probs = torch.empty_like(signs)
    for start in range(0, batch, chunk):
        part = slice(start, start + chunk)
        _sample_chunk(
            model,
            X[part],
            y[part],
            temperature,
            [u[part] for u in uniforms],
            signs[part],
            probs[part],
        )
    return signs, probs


def _sample_chunk(
    model: CoefficientDecoder,
    X: torch.Tensor,
    y: torch.Tensor,
    temperature: float,
    uniforms: list[torch.Tensor],
    signs: torch.Tensor,
    probs: torch.Tensor,
) -> None:
    """Fill ``signs`` and ``probs`` ``(b, N, d)`` for the prompts ``X``, ``y`` of one chunk."""
    context, inputs = _start(model, X, y)
    inputs = inputs.expand(-1, signs.shape[1], -1)
    prefix = None
    for j in range(model.d):
        if j > 0:
            inputs = model.answer_inputs(signs[:, :, j - 1], j)
        logits, prefix = model.step(inputs, context, prefix)
        if temperature == 0:
            p_plus = (logits[..., 0] >= logits[..., 1]).double()
            signs[:, :, j] = 2 * p_plus - 1
        else:
            logits = logits.double()  # sigmoid(m / T): 0 or 1 where m / T overflows
            p_plus = torch.sigmoid((logits[..., 0] - logits[..., 1]) / temperature)
            signs[:, :, j] = torch.where(uniforms[j] < p_plus, 1.0, -1.0)
        probs[:, :, j] = p_plus


@declare(
    Accuracy(
        relative=1e-15,
        note="exact given the logits: at each position the larger logit (+ on a tie), the "
        "logits in the model's dtype",
    ),
    model=MODEL,
    X=Given(PROMPTS),
    y=Given(PROMPTS),
)
def greedy_coefficients(
    model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    r"""Greedy decoding: the larger logit at every position.

    Parameters
    ----------
    model : CoefficientDecoder
        The trained decoder.
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``, :math:`d` the model's.
    y : torch.Tensor
        Their labels, ``(B, n)``.

    Returns
    -------
    torch.Tensor
        The answers, float64 :math:`\pm 1`, ``(B, d)``.
    """
    return sample_coefficients(model, X, y, 1, 0.0, None)[0][:, 0]


@declare(
    Accuracy(
        relative=1e-12,
        absolute=1e-12,
        note="against the network evaluated in float64 with the same weights, in units of "
        f"1 + |m| (the logits' scale); a float64 model; {FLOAT32}",
    ),
    model=Given(
        "a CoefficientDecoder with d <= 16",
        check=lambda name, value: module(name, value, CoefficientDecoder),
        bad=(3, "x"),
    ),
    X=Given(PROMPTS),
    y=Given(PROMPTS),
)
@torch.no_grad()
def enumerate_margins(model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The margin :math:`m_j(v_{<j})` for every :math:`v \in \{-1, +1\}^d` and position :math:`j`.

    Parameters
    ----------
    model : CoefficientDecoder
        The trained decoder, :math:`d \le 16` (``MAX_ENUMERATED_D``: the tree has
        :math:`2^d - 1` nodes).
    X : torch.Tensor
        The prompts' inputs, ``(B, n, d)``.
    y : torch.Tensor
        Their labels, ``(B, n)``.

    Returns
    -------
    torch.Tensor
        The margins, float64 ``(B, 2^d, d)``, rows in the order of
        :func:`icl.decoders.answer_distribution.sign_vectors`.

    Raises
    ------
    ValueError
        :math:`d > 16`, more than :math:`2^{27}` entries out (:math:`B 2^d d`), or one prompt's
        tree alone over that bound.

    Notes
    -----
    The prompts pass through the network in chunks whose keys, values and activations stay within
    :math:`2^{27}` entries.
    """
    if model.d > MAX_ENUMERATED_D:
        raise ValueError(
            f"model.d must be <= {MAX_ENUMERATED_D} to enumerate {{-1, +1}}^d, got {model.d}"
        )
    batch, n, d = _prompts(model, X, y)
    entries("B * 2^d * d", batch * 2**d * d)
    chunk = _chunk(model, n, 2**d, "2^d")
    return torch.cat(
        [_margins_chunk(model, X[i : i + chunk], y[i : i + chunk]) for i in range(0, batch, chunk)]
    )


def _margins_chunk(model: CoefficientDecoder, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
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


@declare(
    Accuracy(
        relative=1e-12,
        absolute=1e-300,
        note="each term log sigmoid(x) to a few ulps of x = v_j m_j / T (whose rounding costs "
        "at most |x| eps <= 745 eps relative where the term does not underflow); the terms "
        "share a sign, so their sum keeps it; -inf where x overflows to -inf (a probability "
        f"below the smallest float); below 1e-300 absolute; {FLOAT32} (absolute: 1e-37)",
    ),
    margins=Given("float32 or float64 tensor (B, 2^d, d), finite, 1 <= d <= 16"),
    temperature=Real(0.0, open_low=True),
)
def log_probs_at(margins: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""The exact answer distribution at a temperature, from the enumerated margins.

    Parameters
    ----------
    margins : torch.Tensor
        :func:`enumerate_margins`' output, ``(B, 2^d, d)``, :math:`1 \le d \le 16`.
    temperature : float
        :math:`T > 0`.

    Returns
    -------
    torch.Tensor
        :math:`\log P_T(v)`, ``(B, 2^d)``, in the margins' dtype.

    Raises
    ------
    ValueError
        Margins not of shape ``(B, 2^d, d)`` with :math:`d \le 16`.

    Notes
    -----
    .. math::

        \log P_T(v) = \sum_j \log \operatorname{sigmoid}(v_j m_j / T).
    """
    tensor("margins", margins, ndim=3)
    if margins.shape[1] != 2 ** margins.shape[2] or margins.shape[2] > MAX_ENUMERATED_D:
        raise ValueError(
            f"margins must be (B, 2^d, d) with d <= {MAX_ENUMERATED_D}, "
            f"got shape {tuple(margins.shape)}"
        )
    v = _sign_vectors(margins.shape[2], margins.device, torch.float64)
    terms = torch.nn.functional.logsigmoid(v * margins.double() / temperature)  # T may be tiny
    return terms.sum(-1).to(margins.dtype)
