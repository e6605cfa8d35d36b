"""The settings and experiments of Chapter 7, the softmax transformer.

The chapter: ``book/ch07_softmax_transformer.md``.
"""
