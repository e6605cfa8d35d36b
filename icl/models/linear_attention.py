r"""The one-layer linear self-attention transformer on in-context regression prompts, and its
training.

Tokens are the columns of the embedding

.. math::

    Z = \begin{pmatrix} x_1 & \cdots & x_n & x_q \\ y_1 & \cdots & y_n & 0 \end{pmatrix},
    \qquad \text{shape } (d + 1, n + 1),

and the layer (no softmax, the query token masked out of the keys) is

.. math::

    f(Z) = Z + W_{pv} Z M Z^\top W_{kq} Z / n, \qquad M = \operatorname{diag}(1, \dots, 1, 0),

with ``W_pv, W_kq`` of shape ``(d + 1, d + 1)``. The prediction is the last entry of the query
column, :math:`f(Z)_{d, n}`. With ``W_pv`` zero but for ``W_pv[d, d] = v`` and ``W_kq`` zero but
for its top-left block :math:`W_{11}`,

.. math::

    \hat y = x_q^\top \Gamma X^\top y / n, \qquad \Gamma = v W_{11}^\top,

one step of preconditioned gradient descent from :math:`w_0 = 0` (Chapter 1). Batched tensors
carry the prompt index first: ``X (B, n, d)``, ``y (B, n)``.

:func:`train_linear_attention` trains the layer on freshly sampled prompts
(:func:`icl.models.training.train`), so its training loss estimates the prediction risk
:math:`E (\hat y - y_q)^2` of the current weights without bias; the minimiser of the parameter
risk is the minimiser of the prediction risk (they differ by :math:`\sigma^2`).
"""

from __future__ import annotations

import torch
from torch import nn

from icl.models.training import TrainingHistory, adam_with_cosine_decay, fresh_prompts, train
from icl.validation import choice, integer, module, prompt_batch, real, same_dtype, tensor
from icl.validation import device as _device
from icl.validation import generator as _generator


def embed_prompts(X: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
    """The token matrix :math:`Z` of a batch of prompts.

    Parameters
    ----------
    X : torch.Tensor
        The examples' inputs, ``(B, n, d)``.
    y : torch.Tensor
        Their labels, ``(B, n)``.
    x_query : torch.Tensor
        The queries, ``(B, d)``, of ``X``'s dtype.

    Returns
    -------
    torch.Tensor
        :math:`Z`, ``(B, d + 1, n + 1)``: the tokens :math:`[x_i; y_i]`, then :math:`[x_q; 0]`.
    """
    batch, _, d = prompt_batch(X, y)
    tensor("x_query", x_query, shape=(batch, d))
    same_dtype(X=X, x_query=x_query)
    tokens = torch.cat([X, y.unsqueeze(-1)], dim=-1)
    query = torch.cat([x_query, torch.zeros_like(x_query[:, :1])], dim=-1)
    return torch.cat([tokens, query.unsqueeze(1)], dim=1).transpose(1, 2)


class LinearAttentionWeights(nn.Module):
    r"""The two matrices of one linear self-attention layer, ``W_pv`` and ``W_kq``, each ``(w, w)``
    for tokens of width ``w = token_width(d)``.

    The layers of this module and of :mod:`icl.models.thought_transformer` differ only in their
    tokens.

    Parameters
    ----------
    d : int
        The dimension, :math:`\ge 1`.
    init_std : float
        The standard deviation of the i.i.d. Gaussian initial entries, :math:`\ge 0` (drawn with
        ``generator``, ``W_pv`` first; 0 gives zero matrices).
    generator : torch.Generator, optional
        The source of the initial entries.
    device : torch.device or str, optional
        The weights' device.
    dtype : torch.dtype
        The weights' dtype.
    """

    @staticmethod
    def token_width(d: int) -> int:
        """The width of a token in dimension :math:`d` (each layer says its own).

        Parameters
        ----------
        d : int
            The dimension.

        Returns
        -------
        int
            The width.
        """
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
    """One linear self-attention layer with residual on tokens :math:`[x; y]` of width :math:`d +
    1` (:class:`LinearAttentionWeights`).
    """

    @staticmethod
    def token_width(d: int) -> int:
        """:math:`d + 1`: the token :math:`[x; y]`.

        Parameters
        ----------
        d : int
            The dimension.

        Returns
        -------
        int
            :math:`d + 1`.
        """
        return integer("d", d) + 1

    @classmethod
    def from_preconditioner(cls, gamma: torch.Tensor) -> LinearSelfAttention:
        r"""The weights whose prediction is :math:`x_q^\top \Gamma X^\top y / n`.

        Parameters
        ----------
        gamma : torch.Tensor
            The preconditioner :math:`\Gamma`, square ``(d, d)``.

        Returns
        -------
        LinearSelfAttention
            The layer with ``W_pv[d, d] = 1``, ``W_kq[:d, :d] =`` :math:`\Gamma^\top`, zero
            elsewhere, on ``gamma``'s device and dtype.

        Raises
        ------
        ValueError
            ``gamma`` not a square matrix.
        """
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
        r""":math:`f(Z)`, the layer's output.

        Parameters
        ----------
        Z : torch.Tensor
            Tokens ``(B, d + 1, n + 1)``, :math:`n \ge 1`, in the layer's dtype; the last column is
            the query token.

        Returns
        -------
        torch.Tensor
            :math:`f(Z)`, ``(B, d + 1, n + 1)``.

        Raises
        ------
        ValueError
            A wrong shape.
        TypeError
            A dtype other than the layer's.
        """
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
        """The prediction :math:`f(Z)_{d, n}` for the query, computing only the query column.

        Parameters
        ----------
        X : torch.Tensor
            The examples' inputs, ``(B, n, d)``.
        y : torch.Tensor
            Their labels, ``(B, n)``.
        x_query : torch.Tensor
            The queries, ``(B, d)``.

        Returns
        -------
        torch.Tensor
            The predictions, ``(B,)``.

        Raises
        ------
        ValueError
            ``X`` with another :math:`d` than the layer's.
        """
        Z = self._same_dtype("X", embed_prompts(X, y, x_query))
        if X.shape[2] != self.d:
            raise ValueError(f"X must have d = {self.d} columns, got shape {tuple(X.shape)}")
        n = X.shape[1]
        keys = Z[:, :, :n]
        attention = keys @ keys.transpose(1, 2) / n
        return torch.einsum("i,bij,jk,bk->b", self.W_pv[self.d], attention, self.W_kq, Z[:, :, n])

    def effective_preconditioner(self) -> torch.Tensor:
        r"""The preconditioner of the GD step the weights implement.

        Returns
        -------
        torch.Tensor
            :math:`\Gamma` = ``W_pv[d, d] W_kq[:d, :d]``:math:`^\top`, ``(d, d)``.

        Notes
        -----
        Exact when the other entries of ``W_pv``'s last row and of ``W_kq``'s last row vanish (they
        do at the optimum, by symmetry of the prior).
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
    r"""Train a layer with Adam on fresh prompts; the learning rate decays as a cosine to 0.

    Parameters
    ----------
    model : LinearSelfAttention
        The layer, trained in place.
    n : int
        Examples per prompt.
    sigma2 : float
        The label noise's variance :math:`\sigma^2`.
    steps : int
        Optimiser steps.
    batch : int
        Prompts per step.
    lr : float
        The initial learning rate.
    seed : int
        Seeds the generator the prompts are drawn with, on the model's device and dtype.
    prior : str
        The tasks' prior (:func:`icl.tasks.sample_prompts`).
    record_every : int
        Steps between snapshots.

    Returns
    -------
    TrainingHistory
        The losses; its snapshots are the effective preconditioners :math:`\Gamma`,
        ``(len(recorded_steps), d, d)``, every ``record_every`` steps and after the last.

    Notes
    -----
    The loss is the mean of :math:`(\hat y - y_q)^2` over the batch.
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
