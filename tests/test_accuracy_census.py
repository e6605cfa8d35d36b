"""The accuracy census in CI: every declared function against its independent reference, on its
fixed cases and a fixed-seed sample of inputs across its declared domain (``tests/accuracy``).
``python scripts/accuracy_census.py --per-function 200`` runs a larger sample."""

import pytest

from icl.domain import domain_of
from tests import accuracy, bad_inputs

REFERENCES = accuracy.load_references()
PER_FUNCTION = 6


def declared_functions() -> list[str]:
    """The public callables of icl that carry a declaration."""
    return [
        name
        for name in bad_inputs.public_callables()
        if domain_of(bad_inputs.resolve(name)) is not None
    ]


def test_every_declared_function_has_a_reference():
    missing = sorted(set(declared_functions()) - set(REFERENCES))
    assert not missing, f"declared functions without a reference in tests/accuracy: {missing}"
    unknown = sorted(set(REFERENCES) - set(declared_functions()))
    assert not unknown, f"references for functions that declare no domain: {unknown}"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_within_declared_accuracy(name):
    results = accuracy.run([name], per_function=PER_FUNCTION)
    wrong = [f"{r.kwargs}: {r.error:.3g} x the declared error {r.detail}" for r in results]
    wrong = [line for line, r in zip(wrong, results) if not r.passed]
    assert not wrong, "\n".join(wrong)
