"""The figures of Chapter 6, sparse binary chains.

The chapter: ``book/ch06_sparse_binary_chains.md``.
"""
