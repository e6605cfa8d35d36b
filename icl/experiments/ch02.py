"""The settings and experiments of Chapter 2, chain of thought as gradient descent.

The chapter: ``book/ch02_chain_of_thought.md``.
"""
