"""The settings and experiments of Chapter 1, in-context regression by linear attention.

The chapter: ``book/ch01_linear_attention.md``.
"""
