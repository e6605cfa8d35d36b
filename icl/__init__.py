"""Companion code to 'Towards Theoretical Understanding of Transformer Test-Time Computing' (arXiv
2508.07571).

The subpackages and modules are imported on first use (``icl.tasks``, or ``from icl import tasks``).
"""

import importlib

__all__ = [
    "decoders",
    "experiments",
    "harness",
    "models",
    "tasks",
    "techniques",
    "theory",
    "validation",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
