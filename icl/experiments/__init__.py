"""The chapters' experiments: one module per chapter, holding its settings (small frozen
dataclasses, the prototype's setting among them) and one function per experiment, which draws
the prompts, runs the decoders and techniques and returns estimates with their standard
errors. Every number they return is computed by the declared functions of the layers below,
which validate the arguments passed on; the settings validate their own fields.

- :mod:`icl.experiments.ch01`: Chapter 1, in-context regression by linear attention;
- :mod:`icl.experiments.ch02`: Chapter 2, chain of thought as gradient descent;
- :mod:`icl.experiments.ch03`: Chapter 3, noise injection and averaged chains;
- :mod:`icl.experiments.ch04`: Chapter 4, best-of-N;
- :mod:`icl.experiments.ch05`: Chapter 5, binary coefficients: votes and pass@k;
- :mod:`icl.experiments.ch06`: Chapter 6, sparse binary chains;
- :mod:`icl.experiments.ch07`: Chapter 7, the softmax transformer;
- :mod:`icl.experiments.ch08`: Chapter 8, the test-time budget;
- :mod:`icl.experiments.ch09`: Chapter 9, hard and easy prompts.

The modules are imported on first use.
"""

import importlib

__all__ = ["ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
