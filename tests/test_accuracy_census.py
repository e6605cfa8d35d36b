"""The accuracy census in CI: every declared function against its independent reference, on its
fixed cases and a fixed-seed sample of inputs across its declared domain (``tests/accuracy``).
``python scripts/accuracy_census.py --per-function 200`` runs a larger sample."""

import inspect

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


# Public functions that compute no number a reader would take as a result, and so declare no
# domain or accuracy: the declaration and validation machinery itself, the run's settings and the
# benchmark, the book's harness, the networks (trained by optimisation; their inputs are checked by
# the hostile-input census), the explorers' widget panels, the static explorers (no parameters;
# tests/test_static_explorers.py holds every curve they store against icl.theory at the precision
# they state), a record's accessors, the figures (they draw), the chapters' experiments and the
# sweeps (compositions of declared functions, which validate the arguments passed on).
UNDECLARED = (
    "icl.runtime.",
    "icl.bench.",
    "icl.figures.",
    "icl.experiments.",
    "icl.sweep.",
    "icl.domain.",
    "icl.validation.",
    "icl.harness.",
    "icl.models.",
    "icl.explorers.one_step_panel",
    "icl.explorers.chains_panel",
    "icl.explorers.votes_panel",
    "icl.static_explorers.",
    "icl.sparse_vote.SparseVoteRun.",
)


def test_every_public_numerical_function_is_declared():
    undeclared = [
        name
        for name in bad_inputs.public_callables()
        if inspect.isfunction(bad_inputs.resolve(name))
        and domain_of(bad_inputs.resolve(name)) is None
        and not name.startswith(UNDECLARED)
    ]
    assert not undeclared, f"public functions without a declared domain and accuracy: {undeclared}"


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
