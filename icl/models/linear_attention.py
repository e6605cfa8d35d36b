"""The one-layer linear self-attention transformer on in-context regression prompts, and its
training.

Tokens are the columns of the embedding

    Z = [[x_1, ..., x_n, x_q],
         [y_1, ..., y_n, 0  ]]          shape (d + 1, n + 1),

and the layer (no softmax, the query token masked out of the keys) is

    f(Z) = Z + W_pv Z M Z^T W_kq Z / n,     M = diag(1, ..., 1, 0),

with ``W_pv, W_kq`` of shape ``(d + 1, d + 1)``. The prediction is the last
entry of the query column, ``f(Z)[d, n]``. With ``W_pv`` zero but for
``W_pv[d, d] = v`` and ``W_kq`` zero but for its top-left block ``W_11``,

    y_hat = x_q^T Gamma X^T y / n,   Gamma = v W_11^T,

one step of preconditioned gradient descent from w_0 = 0 (Chapter 1).
Batched tensors carry the prompt index first: ``X (B, n, d)``, ``y (B, n)``.

:func:`train_linear_attention` trains the layer on freshly sampled prompts
(:func:`icl.models.training.train`), so its training loss estimates the
prediction risk E (y_hat - y_q)^2 of the current weights without bias; the
minimiser of the parameter risk is the minimiser of the prediction risk (they
differ by sigma2).
"""

from __future__ import annotations

import torch
from torch import nn

from icl.models.training import TrainingHistory, adam_with_cosine_decay, fresh_prompts, train
from icl.validation import choice, integer, module, prompt_batch, real, same_dtype, tensor
from icl.validation import device as _device
from icl.validation import generator as _generator


def embed_prompts(X: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
    """The token matrix Z of shape ``(B, d + 1, n + 1)`` from ``X (B, n, d)``, ``y (B, n)``,
    ``x_query (B, d)``."""
    batch, _, d = prompt_batch(X, y)
    tensor("x_query", x_query, shape=(batch, d))
    same_dtype(X=X, x_query=x_query)
    tokens = torch.cat([X, y.unsqueeze(-1)], dim=-1)
    query = torch.cat([x_query, torch.zeros_like(x_query[:, :1])], dim=-1)
    return torch.cat([tokens, query.unsqueeze(1)], dim=1).transpose(1, 2)


class LinearAttentionWeights(nn.Module):
    """The two matrices of one linear self-attention layer, ``W_pv`` and ``W_kq``, each ``(w, w)``
    for tokens of width ``w = token_width(d)``; the layers of this module and of
    :mod:`icl.models.thought_transformer` differ only in their tokens.

    ``init_std`` is the standard deviation of the i.i.d. Gaussian initial entries (drawn with
    ``generator``, W_pv first; 0 gives zero matrices).
    """

    @staticmethod
    def token_width(d: int) -> int:
        """The width of a token in dimension d (each layer says its own)."""
        raise NotImplementedError

    def __init__(
        self,
        d: int,
        *,
        init_std: float = 0.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.d = integer("d", d)
        init_std = real("init_std", init_std, minimum=0.0)
        device = None if device is None else _device("device", device)
        _generator("generator", generator, required=False)
        dtype = choice("dtype", dtype, (torch.float32, torch.float64))
        shape = (self.token_width(self.d),) * 2
        self.W_pv = nn.Parameter(
            init_std * torch.randn(shape, generator=generator, device=device, dtype=dtype)
        )
        self.W_kq = nn.Parameter(
            init_std * torch.randn(shape, generator=generator, device=device, dtype=dtype)
        )

    def _same_dtype(self, name: str, value: torch.Tensor) -> torch.Tensor:
        if value.dtype != self.W_pv.dtype:
            raise TypeError(
                f"{name} must have the layer's dtype {self.W_pv.dtype}, got {value.dtype}"
            )
        return value


class LinearSelfAttention(LinearAttentionWeights):
    """One linear self-attention layer with residual on tokens ``[x; y]`` of width d + 1
    (:class:`LinearAttentionWeights`)."""

    @staticmethod
    def token_width(d: int) -> int:
        """d + 1: the token [x; y]."""
        return integer("d", d) + 1

    @classmethod
    def from_preconditioner(cls, gamma: torch.Tensor) -> LinearSelfAttention:
        """The weights whose prediction is ``x_q^T gamma X^T y / n`` (``W_pv[d, d] = 1``, ``W_kq[:d,
        :d] = gamma^T``)."""
        tensor("gamma", gamma, ndim=2)
        if gamma.shape[0] != gamma.shape[1]:
            raise ValueError(
                f"gamma must be a square (d, d) matrix, got shape {tuple(gamma.shape)}"
            )
        d = gamma.shape[0]
        model = cls(d, device=gamma.device, dtype=gamma.dtype)
        with torch.no_grad():
            model.W_pv[d, d] = 1.0
            model.W_kq[:d, :d] = gamma.T
        return model

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """f(Z) for ``Z`` of shape ``(B, d + 1, n + 1)``; the last column is the query token."""
        self._same_dtype("Z", tensor("Z", Z, ndim=3))
        if Z.shape[1] != self.d + 1 or Z.shape[2] < 2:
            raise ValueError(
                f"Z must have shape (B, {self.d + 1}, n + 1) with n >= 1, got {tuple(Z.shape)}"
            )
        n = Z.shape[2] - 1
        keys = Z[:, :, :n]
        attention = keys @ keys.transpose(1, 2) / n
        return Z + self.W_pv @ attention @ self.W_kq @ Z

    def predict(self, X: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
        """The prediction ``f(Z)[:, d, n]`` for the query, shape ``(B,)``, computing only the query
        column."""
        Z = self._same_dtype("X", embed_prompts(X, y, x_query))
        if X.shape[2] != self.d:
            raise ValueError(f"X must have d = {self.d} columns, got shape {tuple(X.shape)}")
        n = X.shape[1]
        keys = Z[:, :, :n]
        attention = keys @ keys.transpose(1, 2) / n
        return torch.einsum("i,bij,jk,bk->b", self.W_pv[self.d], attention, self.W_kq, Z[:, :, n])

    def effective_preconditioner(self) -> torch.Tensor:
        """Gamma = W_pv[d, d] W_kq[:d, :d]^T, the preconditioner of the GD step the weights
        implement.

        Exact when the other entries of ``W_pv``'s last row and of ``W_kq``'s
        last row vanish (they do at the optimum, by symmetry of the prior).
        """
        return (self.W_pv[self.d, self.d] * self.W_kq[: self.d, : self.d].T).detach()


def train_linear_attention(
    model: LinearSelfAttention,
    *,
    n: int,
    sigma2: float,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    prior: str = "gaussian",
    record_every: int = 10,
) -> TrainingHistory:
    """Train ``model`` with Adam on fresh prompts of ``n`` examples; the learning rate decays as a
    cosine to 0.

    Prompts are drawn on the model's device and dtype with a generator seeded by ``seed``; the
    loss is the mean of (y_hat - y_q)^2 over the batch. The history's snapshots are the
    effective preconditioners Gamma, ``(len(recorded_steps), d, d)``, every ``record_every``
    steps and after the last.
    """
    module("model", model, LinearSelfAttention)
    steps, batch = integer("steps", steps), integer("batch", batch)
    lr = real("lr", lr, minimum=0.0, strict=True)
    param = model.W_pv

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        p = fresh_prompts(param, batch, n, model.d, gen, prior=prior, sigma2=sigma2)
        return ((model.predict(p.X, p.y, p.x_query) - p.y_query) ** 2).mean()

    optimizer, schedule = adam_with_cosine_decay(model, lr, steps)
    return train(
        model,
        batch_loss,
        optimizer,
        schedule,
        steps=steps,
        seed=seed,
        snapshot=lambda m: m.effective_preconditioner().cpu().numpy(),
        record_every=record_every,
    )
