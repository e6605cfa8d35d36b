r"""A linear-attention transformer that emits gradient-descent iterates as thought tokens (Chapter
2).

Tokens have width :math:`2(d + 1)`, laid out as :math:`[x\ (d), y\ (1), w\ (d), \mathrm{flag}\
(1)]`:

.. math::

    \text{context token } c_i = [x_i, y_i, 0_d, 0], \qquad
    \text{thought token } z_t = [0_d, 0, w_t, 1].

One linear self-attention layer with residual, whose keys are the :math:`n` context tokens only
(thought-to-thought attention is masked, as in the authors' prototype):

.. math::

    f(Z) = Z + W_{pv} (C C^\top / n) W_{kq} Z, \qquad C = \text{the context columns of } Z.

The emitted thought is the :math:`w`-slot of the output column of the last thought token;
decoding appends :math:`[0, w_{t+1}, 1]` and runs the layer again. With
``ThoughtTransformer.gd_weights(d, eta)``, :math:`W_{kq} z_t = [w_t, -1, 0, \dots]` and
:math:`W_{pv}` writes :math:`-\eta` times the first :math:`d` entries into the :math:`w`-slot, so

.. math::

    w_{t+1} = w_t - \eta (X^\top X w_t - X^\top y) / n \qquad \text{exactly.}

Batched shapes: ``X (B, n, d)``, ``y (B, n)``, thoughts ``(B, T, d)``.

:func:`train_thought_transformer` teacher-forces the layer on the greedy GD chain (the chain the
layer should emit, as :func:`icl.decoders.gd_chains.sample_chains` decodes it), on fresh prompts
at every step (:func:`icl.models.training.train`).
"""

from __future__ import annotations

import torch

from icl.models.linear_attention import LinearAttentionWeights
from icl.models.training import TrainingHistory, adam_with_cosine_decay, fresh_prompts, train
from icl.validation import integer, module, positive, prompt_batch, same_dtype, tensor


def _gd_path(X: torch.Tensor, y: torch.Tensor, eta: float, steps: int) -> torch.Tensor:
    """The GD thoughts w_0 = 0, ..., w_steps, ``(B, steps + 1, d)``: w_{t+1} = w_t A + c with
    A = I - eta X^T X / n and c = eta X^T y / n."""
    n, d = X.shape[-2:]
    step = torch.eye(d, device=X.device, dtype=X.dtype) - eta * (X.transpose(1, 2) @ X / n)
    shift = (eta * (torch.einsum("bnd,bn->bd", X, y) / n)).unsqueeze(1)
    path = [torch.zeros(X.shape[0], 1, d, device=X.device, dtype=X.dtype)]
    for _ in range(steps):
        path.append(torch.baddbmm(shift, path[-1], step))
    return torch.cat(path, dim=1)


def embed_thoughts(X: torch.Tensor, y: torch.Tensor, thoughts: torch.Tensor) -> torch.Tensor:
    """The token matrix of prompts and thoughts.

    Parameters
    ----------
    X : torch.Tensor
        The examples' inputs, ``(B, n, d)``.
    y : torch.Tensor
        Their labels, ``(B, n)``.
    thoughts : torch.Tensor
        The thoughts, ``(B, T, d)``, of ``X``'s dtype.

    Returns
    -------
    torch.Tensor
        The tokens, ``(B, 2d + 2, n + T)``: :math:`n` context tokens, then :math:`T` thought
        tokens.
    """
    prompt_batch(X, y)
    B, n, d = X.shape
    tensor("thoughts", thoughts, shape=(B, None, d))
    same_dtype(X=X, thoughts=thoughts)
    T = thoughts.shape[1]
    context = torch.cat([X, y.unsqueeze(-1), X.new_zeros(B, n, d + 1)], dim=-1)
    thought = torch.cat([X.new_zeros(B, T, d + 1), thoughts, X.new_ones(B, T, 1)], dim=-1)
    return torch.cat([context, thought], dim=1).transpose(1, 2)


class ThoughtTransformer(LinearAttentionWeights):
    """One linear self-attention layer on width-:math:`2(d+1)` tokens
    (:class:`~icl.models.linear_attention.LinearAttentionWeights`): the emitted thought is the
    :math:`w`-slot of the last token's output.
    """

    @staticmethod
    def token_width(d: int) -> int:
        r""":math:`2 (d + 1)`: the token :math:`[x, y, w, \mathrm{flag}]`.

        Parameters
        ----------
        d : int
            The dimension.

        Returns
        -------
        int
            :math:`2 (d + 1)`.
        """
        return 2 * integer("d", d) + 2

    @classmethod
    def gd_weights(
        cls,
        d: int,
        eta: float,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> ThoughtTransformer:
        r"""The weights whose emitted thought is exactly one step of gradient descent.

        Parameters
        ----------
        d : int
            The dimension.
        eta : float
            The step size :math:`\eta > 0`.
        device : torch.device or str, optional
            The weights' device.
        dtype : torch.dtype
            The weights' dtype.

        Returns
        -------
        ThoughtTransformer
            The layer.

        Notes
        -----
        The emitted thought is :math:`w_t - \eta (X^\top X w_t - X^\top y) / n`.
        """
        eta = positive("eta", eta)
        model = cls(d, device=device, dtype=dtype)
        idx = torch.arange(d, device=model.W_pv.device)
        with torch.no_grad():
            model.W_kq[idx, d + 1 + idx] = 1.0  # x-block of the key-query image <- w_t
            model.W_kq[d, 2 * d + 1] = -1.0  # y-slot <- -flag
            model.W_pv[d + 1 + idx, idx] = -eta  # w-slot <- -eta (S w_t - X^T y / n)
        return model

    def forward(self, Z: torch.Tensor, n: int) -> torch.Tensor:
        """:math:`f(Z)`, the layer's output.

        Parameters
        ----------
        Z : torch.Tensor
            Tokens ``(B, 2d + 2, n + T)`` in the layer's dtype.
        n : int
            The first ``n`` columns are the context tokens.

        Returns
        -------
        torch.Tensor
            :math:`f(Z)`, of ``Z``'s shape.

        Raises
        ------
        ValueError
            A wrong shape.
        TypeError
            A dtype other than the layer's.
        """
        n = integer("n", n)
        self._same_dtype("Z", tensor("Z", Z, ndim=3))
        if Z.shape[1] != 2 * self.d + 2 or Z.shape[2] < n:
            raise ValueError(
                f"Z must have shape (B, {2 * self.d + 2}, >= {n}), got {tuple(Z.shape)}"
            )
        keys = Z[:, :, :n]
        return Z + self.W_pv @ (keys @ keys.transpose(1, 2) / n) @ self.W_kq @ Z

    def next_thoughts(
        self, X: torch.Tensor, y: torch.Tensor, thoughts: torch.Tensor
    ) -> torch.Tensor:
        """The thought emitted after each input thought (teacher forcing).

        Parameters
        ----------
        X : torch.Tensor
            The examples' inputs, ``(B, n, d)``.
        y : torch.Tensor
            Their labels, ``(B, n)``.
        thoughts : torch.Tensor
            The input thoughts, ``(B, T, d)``.

        Returns
        -------
        torch.Tensor
            The emitted thoughts, ``(B, T, d)``.

        Raises
        ------
        ValueError
            ``X`` with another :math:`d` than the layer's.
        """
        Z = self._same_dtype("X", embed_thoughts(X, y, thoughts))
        n, d = X.shape[1], self.d
        if X.shape[2] != d:
            raise ValueError(f"X must have d = {d} columns, got shape {tuple(X.shape)}")
        out = self(Z, n)
        return out[:, d + 1 : 2 * d + 1, n:].transpose(1, 2)

    @torch.no_grad()
    def rollout(self, X: torch.Tensor, y: torch.Tensor, steps: int) -> torch.Tensor:
        r"""Autoregressive decoding from :math:`w_0 = 0`.

        Parameters
        ----------
        X : torch.Tensor
            The examples' inputs, ``(B, n, d)``.
        y : torch.Tensor
            Their labels, ``(B, n)``.
        steps : int
            Thoughts to emit, :math:`\ge 0`.

        Returns
        -------
        torch.Tensor
            All thoughts including :math:`w_0`, ``(B, steps + 1, d)``.

        Raises
        ------
        ValueError
            ``X`` with another :math:`d` than the layer's.

        Notes
        -----
        Each step runs the layer on the whole sequence (context and every thought so far), reads the
        last column's :math:`w`-slot and appends it as a thought token.
        """
        steps = integer("steps", steps, minimum=0)
        prompt_batch(X, y)
        self._same_dtype("X", X)
        if X.shape[2] != self.d:
            raise ValueError(f"X must have d = {self.d} columns, got shape {tuple(X.shape)}")
        n, d = X.shape[1], self.d
        thoughts = X.new_zeros(X.shape[0], 1, d)
        for _ in range(steps):
            out = self(embed_thoughts(X, y, thoughts), n)
            thoughts = torch.cat([thoughts, out[:, d + 1 : 2 * d + 1, -1].unsqueeze(1)], dim=1)
        return thoughts


def train_thought_transformer(
    model: ThoughtTransformer,
    *,
    n: int,
    eta: float,
    thoughts: int,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    sigma2: float = 0.0,
    prior: str = "gaussian",
) -> TrainingHistory:
    r"""Teacher forcing on GD trajectories: on fresh prompts, input :math:`w_0, \dots, w_{T-1}`,
    target :math:`w_1, \dots, w_T`.

    Parameters
    ----------
    model : ThoughtTransformer
        The layer, trained in place.
    n : int
        Examples per prompt.
    eta : float
        The GD step size :math:`\eta > 0` (gradient divided by :math:`n`).
    thoughts : int
        The trajectories' length :math:`T`.
    steps : int
        Optimiser steps.
    batch : int
        Prompts per step.
    lr : float
        The initial learning rate, :math:`> 0`.
    seed : int
        Seeds the generator the prompts are drawn with.
    sigma2 : float
        The label noise's variance :math:`\sigma^2`.
    prior : str
        The tasks' prior (:func:`icl.tasks.sample_prompts`).

    Returns
    -------
    TrainingHistory
        The losses.

    Notes
    -----
    The trajectories are the greedy GD chains with step ``eta``, those of
    :func:`icl.decoders.gd_chains.sample_chains` with ``noise="none"``; Adam with learning rate
    ``lr`` decayed as a cosine to 0; the loss is the mean over prompts and positions of
    :math:`\|\mathrm{emitted} - \mathrm{target}\|^2`.
    """
    module("model", model, ThoughtTransformer)
    steps, batch = integer("steps", steps), integer("batch", batch)
    thoughts = integer("thoughts", thoughts)
    lr, eta = positive("lr", lr), positive("eta", eta)
    param = model.W_pv

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        p = fresh_prompts(param, batch, n, model.d, gen, prior=prior, sigma2=sigma2)
        path = _gd_path(p.X, p.y, eta, thoughts)
        emitted = model.next_thoughts(p.X, p.y, path[:, :-1])
        return ((emitted - path[:, 1:]) ** 2).sum(-1).mean()

    optimizer, schedule = adam_with_cosine_decay(model, lr, steps)
    return train(model, batch_loss, optimizer, schedule, steps=steps, seed=seed)
