r"""A small decoder-only softmax transformer that reads a regression prompt and emits w's signs.

The sequence has :math:`n + d` tokens. The first :math:`n` are the examples, each embedded
continuously, :math:`e_i = A [x_i; y_i / s] + c` (:math:`s = \sqrt{d + \sigma^2}`, the scale of
:math:`y`). Then come the :math:`d` answer positions: position :math:`j` (0-based) carries a
learned "predict coefficient :math:`j`" vector :math:`p_j` plus, for :math:`j \ge 1`, the
embedding of the token emitted for coefficient :math:`j - 1` (for :math:`j = 0` a learned start
vector). Pre-LayerNorm blocks of causal multi-head softmax attention and a GELU MLP follow; a
linear head gives at answer position :math:`j` the two logits :math:`(\ell_+, \ell_-)` of
coefficient :math:`j` over the two-token vocabulary :math:`\{+1, -1\}`.

Decoding at temperature :math:`T` samples token + with probability

.. math::

    \operatorname{softmax}\big((\ell_+, \ell_-) / T\big)_+ = \operatorname{sigmoid}(m_j / T),
    \qquad m_j = \ell_+ - \ell_-,

the *logit margin*; Chapter 5's linear decoder is the special case :math:`m_j = 2 \hat w_j`.
Training (:func:`train_coefficient_decoder`) minimises the cross-entropy of the true signs of
:math:`w`, teacher-forced, on freshly sampled rademacher prompts.
:meth:`CoefficientDecoder.encode` and :meth:`CoefficientDecoder.step` run the same network one
answer token at a time with cached keys and values (used by
:mod:`icl.decoders.coefficient_sampler`).

Command (seeded, repeatable on one device)::

    python -m icl.models.softmax_transformer --out book/data/ch07_smoke.pt --scale smoke --seed 0
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from icl import runtime, tasks
from icl.models.training import TrainingHistory, fresh_prompts, train
from icl.validation import choice, integer, module, positive, prompt_batch, real, tensor
from icl.validation import device as _device
from icl.validation import signs as _signs


@dataclass(frozen=True)
class DecoderConfig:
    r"""Architecture and task of a :class:`CoefficientDecoder`.

    Parameters
    ----------
    d : int
        The dimension: answer positions.
    n : int
        Examples per prompt.
    sigma2 : float
        The label noise's variance :math:`\sigma^2 \ge 0`.
    width : int
        The model width :math:`D`, divisible by ``heads``.
    layers : int
        Transformer blocks.
    heads : int
        Attention heads :math:`H`.

    Raises
    ------
    ValueError
        A setting out of range, or ``width`` not divisible by ``heads``.
    """

    d: int
    n: int
    sigma2: float
    width: int = 64
    layers: int = 3
    heads: int = 4

    def __post_init__(self) -> None:
        for name in ("d", "n", "width", "layers", "heads"):
            integer(name, getattr(self, name))
        real("sigma2", self.sigma2, minimum=0.0)
        if self.width % self.heads:
            raise ValueError(
                f"width must be divisible by heads, got width={self.width}, heads={self.heads}"
            )


@dataclass(frozen=True)
class TrainingConfig:
    r"""Optimisation of :func:`train_coefficient_decoder`: AdamW, linear warm-up then cosine decay
    to 0.

    Parameters
    ----------
    steps : int
        Optimiser steps, :math:`\ge 1`.
    batch : int
        Prompts per step, :math:`\ge 1`.
    lr : float
        The peak learning rate, :math:`> 0`.
    warmup : int
        Steps of linear warm-up, :math:`\ge 0`.
    weight_decay : float
        AdamW's weight decay, :math:`\ge 0`.

    Raises
    ------
    ValueError
        A setting out of range.
    """

    steps: int
    batch: int
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        integer("steps", self.steps), integer("batch", self.batch)
        positive("lr", self.lr)
        integer("warmup", self.warmup, minimum=0)
        real("weight_decay", self.weight_decay, minimum=0.0)


SCALES = {
    "smoke": (
        DecoderConfig(d=8, n=16, sigma2=4.0, width=48, layers=3, heads=4),
        TrainingConfig(steps=1500, batch=256, lr=3e-3, warmup=100),
    ),
    "full": (
        DecoderConfig(d=8, n=16, sigma2=4.0, width=128, layers=4, heads=8),
        TrainingConfig(steps=20000, batch=1024, lr=1e-3, warmup=500),
    ),
}


class _Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def _split(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        shape = (*h.shape[:-1], self.heads, -1)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Causal block on ``x (B, L, D)``; returns the output and this layer's keys and values
        ``(B, H, L, D/H)``."""
        q, k, v = (t.transpose(1, 2) for t in self._split(self.ln1(x)))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(attended.transpose(1, 2).reshape(x.shape))
        return x + self.mlp(self.ln2(x)), k, v

    def step(self, x: torch.Tensor, context: tuple, prefix: list) -> tuple[torch.Tensor, tuple]:
        """One new token per sequence, ``x (B, S, D)``, attending to the shared context keys/values
        ``(B, H, n, D/H)`` and to the earlier answer tokens of its own sequence.

        ``prefix[i] = (k_i, v_i)``, each ``(B, S_i, H, D/H)`` with ``S_i`` dividing ``S``, holds the
        keys and values of answer position i; sequence s reads entry ``s // (S / S_i)`` (so a tree
        of prefixes, whose children 2s, 2s + 1 extend s, shares its ancestors' entries without
        copies). Returns the output and this token's keys and values ``(B, S, H, D/H)``.
        """
        q, k, v = self._split(self.ln1(x))  # (B, S, H, e)
        B, S, H, e = q.shape
        scale = e**-0.5
        context_scores = q.transpose(1, 2) @ context[0].transpose(-1, -2) * scale  # (B, H, S, n)
        entries = [*prefix, (k, v)]
        own = (
            torch.stack(
                [
                    (q.reshape(B, ki.shape[1], -1, H, e) * ki.unsqueeze(2)).sum(-1).reshape(B, S, H)
                    for ki, _ in entries
                ],
                dim=-1,
            )
            * scale
        )  # (B, S, H, j + 1)
        weights = torch.cat([context_scores, own.transpose(1, 2)], dim=-1).softmax(-1)
        n = context[0].shape[2]
        attended = (weights[..., :n] @ context[1]).transpose(1, 2)  # (B, S, H, e)
        own_weights = weights[..., n:].transpose(1, 2)  # (B, S, H, j + 1)
        for i, (_, vi) in enumerate(entries):
            attended = attended + (
                own_weights[..., i, None].reshape(B, vi.shape[1], -1, H, 1) * vi.unsqueeze(2)
            ).reshape(B, S, H, e)
        x = x + self.out(attended.reshape(x.shape))
        return x + self.mlp(self.ln2(x)), (k, v)


class CoefficientDecoder(nn.Module):
    r"""The decoder of the module docstring.

    Parameters
    ----------
    config : DecoderConfig
        Architecture and task.
    seed : int
        The parameters are initialised from it (PyTorch defaults), :math:`\ge 0`.
    device : torch.device or str, optional
        The parameters' device.
    dtype : torch.dtype
        float32 or float64.
    """

    def __init__(
        self,
        config: DecoderConfig,
        *,
        seed: int = 0,
        device=None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        module("config", config, DecoderConfig)
        seed = integer("seed", seed, minimum=0)
        device = None if device is None else _device("device", device)
        dtype = choice("dtype", dtype, (torch.float32, torch.float64))
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            D = config.width
            self.embed_example = nn.Linear(config.d + 1, D)
            self.start = nn.Parameter(0.02 * torch.randn(D))
            self.embed_token = nn.Embedding(2, D)
            self.embed_position = nn.Embedding(config.d, D)
            self.blocks = nn.ModuleList(_Block(D, config.heads) for _ in range(config.layers))
            self.ln_final = nn.LayerNorm(D)
            self.head = nn.Linear(D, 2)
        self.to(device=device, dtype=dtype)

    @property
    def d(self) -> int:
        return self.config.d

    def _examples(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        prompt_batch(X, y)
        if X.shape[2] != self.d:
            raise ValueError(
                f"expected X (B, n, {self.d}) and y (B, n), "
                f"got {tuple(X.shape)} and {tuple(y.shape)}"
            )
        p = self.head.weight
        scale = math.sqrt(self.d + self.config.sigma2)
        features = torch.cat([X, y.unsqueeze(-1) / scale], dim=-1).to(
            device=p.device, dtype=p.dtype
        )
        return self.embed_example(features)

    def answer_inputs(self, previous: torch.Tensor | None, position: int) -> torch.Tensor:
        """The input vector at an answer position.

        Parameters
        ----------
        previous : torch.Tensor or None
            The signs emitted for coefficient :math:`j - 1`, ``(B, S)``; not read at :math:`j = 0`.
        position : int
            The answer position :math:`j`.

        Returns
        -------
        torch.Tensor
            :math:`p_j` plus the start vector (:math:`j = 0`) or the embedding of ``previous``.
        """
        position = integer("position", position, minimum=0, maximum=self.d - 1)
        position_vector = self.embed_position.weight[position]
        if position == 0:
            return (self.start + position_vector).expand(1, 1, -1)
        _signs("previous", previous, ndim=2)
        return self.embed_token((previous < 0).long()) + position_vector

    def forward(self, X: torch.Tensor, y: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        r"""Teacher-forced logits of coefficient :math:`j` given ``signs[:, :j]``.

        Parameters
        ----------
        X : torch.Tensor
            The examples' inputs, ``(B, n, d)``.
        y : torch.Tensor
            Their labels, ``(B, n)``.
        signs : torch.Tensor
            The signs, :math:`\pm 1`, ``(B, d)``; the last column is not read.

        Returns
        -------
        torch.Tensor
            The logits, ``(B, d, 2)`` (token 0 is :math:`+1`, token 1 is :math:`-1`).
        """
        examples = self._examples(X, y)
        _signs("signs", signs, shape=(X.shape[0], self.d))
        answers = self.embed_token((signs[:, :-1] < 0).long()) + self.embed_position.weight[1:]
        first = (self.start + self.embed_position.weight[0]).expand(X.shape[0], 1, -1)
        h = torch.cat([examples, first, answers], dim=1)
        for block in self.blocks:
            h = block(h)[0]
        return self.head(self.ln_final(h[:, X.shape[1] :]))

    def encode(self, X: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The keys and values of every layer for the example tokens (shared by all samples).

        Parameters
        ----------
        X : torch.Tensor
            The examples' inputs, ``(B, n, d)``.
        y : torch.Tensor
            Their labels, ``(B, n)``.

        Returns
        -------
        list of tuple of torch.Tensor
            Per layer, keys and values ``(B, H, n, D/H)``.
        """
        h, cache = self._examples(X, y), []
        for block in self.blocks:
            h, k, v = block(h)
            cache.append((k, v))
        return cache

    def step(
        self, inputs: torch.Tensor, context: list, prefix: list | None
    ) -> tuple[torch.Tensor, list]:
        """The logits at the next answer position.

        Parameters
        ----------
        inputs : torch.Tensor
            ``(B, S, D)``, from :meth:`answer_inputs`.
        context : list
            :meth:`encode`'s keys and values.
        prefix : list or None
            ``None`` at position 0, else what the previous call returned: per layer, the list of
            keys/values of the earlier answer positions (see :meth:`_Block.step` for how ``S`` may
            grow from one position to the next).

        Returns
        -------
        logits : torch.Tensor
            ``(B, S, 2)``.
        prefix : list
            The extended prefix.
        """
        tensor("inputs", inputs, ndim=3)
        if inputs.shape[-1] != self.config.width:
            raise ValueError(
                f"inputs must have width {self.config.width}, got shape {tuple(inputs.shape)}"
            )
        if not isinstance(context, list) or len(context) != len(self.blocks):
            raise TypeError(f"context must be the list that encode() returns, got {type(context)}")
        if prefix is not None and (not isinstance(prefix, list) or len(prefix) != len(self.blocks)):
            raise TypeError(f"prefix must be None or the list that step() returned, got {prefix!r}")
        h, new_prefix = inputs, []
        for layer, block in enumerate(self.blocks):
            earlier = [] if prefix is None else prefix[layer]
            h, kv = block.step(h, context[layer], earlier)
            new_prefix.append([*earlier, kv])
        return self.head(self.ln_final(h)), new_prefix


def cross_entropy(model: CoefficientDecoder, prompts: tasks.Prompts) -> torch.Tensor:
    r"""The teacher-forced cross-entropy of the true signs, in nats.

    Parameters
    ----------
    model : CoefficientDecoder
        The decoder.
    prompts : icl.tasks.Prompts
        The prompts, with their tasks :math:`w`.

    Returns
    -------
    torch.Tensor
        The mean over prompts and coefficients of :math:`-\log P(w_j \mid \text{prompt}, w_{<j})`.

    Raises
    ------
    TypeError
        A model or prompts of the wrong class.
    """
    module("model", model, CoefficientDecoder)
    module("prompts", prompts, tasks.Prompts)
    logits = model(prompts.X, prompts.y, prompts.w)
    return F.cross_entropy(
        logits.reshape(-1, 2), (prompts.w < 0).long().reshape(-1).to(logits.device)
    )


def train_coefficient_decoder(
    model: CoefficientDecoder, training: TrainingConfig, *, seed: int
) -> TrainingHistory:
    r"""Train a decoder by AdamW on fresh rademacher prompts.

    Parameters
    ----------
    model : CoefficientDecoder
        The decoder, trained in place.
    training : TrainingConfig
        Steps, batch, learning rate, warm-up and weight decay.
    seed : int
        Seeds the generator the prompts are drawn with.

    Returns
    -------
    TrainingHistory
        The losses.

    Notes
    -----
    The learning rate rises linearly for ``warmup`` steps, then decays as a cosine to 0; the loss is
    :func:`cross_entropy`.

    Repeatability: one seed, device and CPU thread count give the same bits. The thread count
    changes the order of torch's float32 reductions, so with 1 and 2 threads the parameters differ
    by round-off (about :math:`2 \cdot 10^{-5}` after 3 steps of the smoke configuration, on entries
    of order 1; ``tests/test_determinism.py``), which later steps carry on: reproduce a checkpoint
    bit for bit with the thread count that wrote it.
    """
    module("model", model, CoefficientDecoder)
    module("training", training, TrainingConfig)
    steps, batch = integer("steps", training.steps), integer("batch", training.batch)
    real("lr", training.lr, minimum=0.0, strict=True)
    warmup = integer("warmup", training.warmup, minimum=0)
    cfg, param = model.config, model.head.weight

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        prompts = fresh_prompts(
            param, batch, cfg.n, cfg.d, gen, prior="rademacher", sigma2=cfg.sigma2
        )
        return cross_entropy(model, prompts)

    def rate(t: int) -> float:
        if t < warmup:
            return (t + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (t - warmup) / max(steps - warmup, 1)))

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=training.lr, weight_decay=training.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    return train(model, batch_loss, optimizer, schedule, steps=steps, seed=seed)


def save_checkpoint(
    path: str | Path,
    model: CoefficientDecoder,
    training: TrainingConfig,
    history: TrainingHistory,
    *,
    seed: int,
    command: str,
) -> None:
    """Write a trained decoder and how it was trained to a file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file; its folder is created if missing.
    model : CoefficientDecoder
        The decoder; its weights are stored in float32, on the CPU.
    training : TrainingConfig
        Its training configuration, stored with the model's.
    history : TrainingHistory
        Its loss curve and the seconds it took.
    seed : int
        The seed.
    command : str
        The command that trained it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": {
                k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()
            },
            "config": asdict(model.config),
            "training": asdict(training),
            "seed": int(seed),
            "command": command,
            "loss": torch.tensor(history.loss, dtype=torch.float32),
            "seconds": float(history.seconds),
        },
        path,
    )


def load_checkpoint(path: str | Path, *, device=None) -> tuple[CoefficientDecoder, dict]:
    """Load a decoder written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or pathlib.Path
        The checkpoint file.
    device : torch.device or str, optional
        The model's device.

    Returns
    -------
    model : CoefficientDecoder
        The model, in eval mode, float32.
    metadata : dict
        The checkpoint's metadata: configs, seed, command, loss curve, seconds.

    Raises
    ------
    ValueError
        ``path`` not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a checkpoint file")
    stored = torch.load(path, map_location="cpu", weights_only=True)
    model = CoefficientDecoder(DecoderConfig(**stored["config"]), device=device)
    model.load_state_dict(stored["state_dict"])
    model.eval()
    meta = {k: v for k, v in stored.items() if k != "state_dict"}
    meta["training"] = TrainingConfig(**meta["training"])
    meta["config"] = model.config
    return model, meta


def train_at_scale(
    scale: str, seed: int, *, device=None
) -> tuple[CoefficientDecoder, TrainingConfig, TrainingHistory]:
    r"""Build and train the model of ``SCALES[scale]``.

    Parameters
    ----------
    scale : {"smoke", "full"}
        The configuration.
    seed : int
        Initialisation ``seed``, data ``seed + 1``; :math:`\ge 0`.
    device : torch.device or str, optional
        By default :func:`icl.runtime.device`.

    Returns
    -------
    model : CoefficientDecoder
        The trained model.
    training : TrainingConfig
        Its training configuration.
    history : TrainingHistory
        Its training history.

    Raises
    ------
    ValueError
        An unknown scale or a negative seed.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {tuple(SCALES)}, got {scale!r}")
    seed = integer("seed", seed, minimum=0)
    config, training = SCALES[scale]
    model = CoefficientDecoder(
        config, seed=seed, device=runtime.device() if device is None else device
    )
    return model, training, train_coefficient_decoder(model, training, seed=seed + 1)


def main(argv: list[str] | None = None) -> None:
    """The command line: ``python -m icl.models.softmax_transformer --out PATH --scale smoke|full
    --seed S``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; by default the command line's.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="checkpoint file to write")
    parser.add_argument("--scale", choices=tuple(SCALES), default="smoke")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model, training, history = train_at_scale(args.scale, args.seed)
    command = (
        f"python -m icl.models.softmax_transformer --out {args.out} --scale {args.scale} "
        f"--seed {args.seed}"
    )
    save_checkpoint(args.out, model, training, history, seed=args.seed, command=command)
    tail = history.loss[-max(len(history.loss) // 20, 1) :].mean()
    print(
        f"trained {training.steps} steps in {history.seconds:.1f} s on {runtime.device()}; "
        f"final loss {tail:.4f} nats/coefficient; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
