"""The settings and experiments of Chapter 4, best-of-N.

The chapter: ``book/ch04_best_of_n.md``.
"""
