"""The settings and experiments of Chapter 8, the test-time budget.

The chapter: ``book/ch08_test_time_budget.md``.
"""
