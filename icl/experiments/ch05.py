"""The settings and experiments of Chapter 5, binary coefficients: votes and pass@k.

The chapter: ``book/ch05_binary_coefficients.md``.
"""
