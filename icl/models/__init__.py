"""The models that read a prompt; they share one training loop.

- :mod:`icl.models.linear_attention`: the one-layer linear-attention transformer (Chapter 1):
  ``embed_prompts``, ``LinearSelfAttention``, ``train_linear_attention``;
- :mod:`icl.models.thought_transformer`: the transformer that emits gradient-descent iterates as
  thought tokens (Chapter 2): ``embed_thoughts``, ``ThoughtTransformer``,
  ``train_thought_transformer``;
- :mod:`icl.models.softmax_transformer`: the small softmax transformer that emits the signs of
  :math:`w` (Chapter 7): ``CoefficientDecoder``, its configurations, training, checkpoints and
  command line (``python -m icl.models.softmax_transformer``);
- :mod:`icl.models.training`: ``train``, the loop on fresh batches that the three trainers share.

The modules are imported on first use (``icl.models.training``, or ``from icl.models import
training``), so that running one of them with ``python -m`` runs it once.
"""

import importlib

__all__ = ["linear_attention", "softmax_transformer", "thought_transformer", "training"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
