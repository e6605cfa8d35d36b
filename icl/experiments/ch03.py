"""The settings and experiments of Chapter 3, noise injection and averaged chains.

The chapter: ``book/ch03_noise_injection.md``.
"""
