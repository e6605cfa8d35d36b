"""The figures of the book's chapters: one module per chapter, one function per figure, each
drawing a figure from the chapter's results (theory as lines, simulation as points with error
bars) and returning it. The chapters call them from hidden cells.

- :mod:`icl.figures.ch01`: Chapter 1, in-context regression by linear attention;
- :mod:`icl.figures.ch02`: Chapter 2, chain of thought as gradient descent;
- :mod:`icl.figures.ch03`: Chapter 3, noise injection and averaged chains;
- :mod:`icl.figures.ch04`: Chapter 4, best-of-N;
- :mod:`icl.figures.ch05`: Chapter 5, binary coefficients: votes and pass@k;
- :mod:`icl.figures.ch06`: Chapter 6, sparse binary chains;
- :mod:`icl.figures.ch07`: Chapter 7, the softmax transformer;
- :mod:`icl.figures.ch08`: Chapter 8, the test-time budget;
- :mod:`icl.figures.ch09`: Chapter 9, hard and easy prompts.

The modules are imported on first use.
"""

import importlib

__all__ = ["ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
