"""Companion code to 'Towards Theoretical Understanding of Transformer Test-Time Computing' (arXiv 2508.07571).

Modules: :mod:`icl.tasks` (prompt samplers), :mod:`icl.transformer` (linear
self-attention), :mod:`icl.training` (pretraining), :mod:`icl.decoding` (chains
of GD thoughts, greedy or with noise injection), :mod:`icl.theory` (closed
forms), :mod:`icl.montecarlo` (device, scale, estimates with standard errors),
:mod:`icl.claims` (recorded checks), :mod:`icl.rewards` (best-of-N rewards and selection).
"""

from icl import decoding, rewards, tasks, theory, training, transformer
from icl import harness

__all__ = ["harness", "decoding", "rewards", "tasks", "theory", "training", "transformer"]
__version__ = "0.1.0"
