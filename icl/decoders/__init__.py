r"""Decoders: how answers come out of a model, as the tokens of a chain of thought or of an answer.

- :mod:`icl.decoders.gd_chains`: chains of gradient-descent thoughts (what the thought transformer
  emits), decoded greedily or with noise injection, additive or multiplicative (Chapters 2 to 4);
- :mod:`icl.decoders.sparse_chains`: chains over sparse binary supports, sampled without
  replacement or greedy, and integer codes of their answers (Chapter 6);
- :mod:`icl.decoders.coefficient_sampler`: the softmax transformer's sampler at a temperature,
  greedy decoding, and the enumeration of its answer distribution (Chapter 7);
- :mod:`icl.decoders.answer_distribution`: exact answer distributions over :math:`\{-1, +1\}^d`:
  the sign vectors, the Bayes posterior, Chapter 5's linear decoder, marginals, probabilities, the
  mode.

The modules are imported on first use (``from icl.decoders import gd_chains``).
"""

import importlib

__all__ = ["answer_distribution", "coefficient_sampler", "gd_chains", "sparse_chains"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
