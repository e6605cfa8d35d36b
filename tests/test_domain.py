"""The declarations of :mod:`icl.domain`: validation at the edges, the docstring section, the
values outside each range, and a sampler that stays inside it."""

import io
import math
from pathlib import Path

import docutils.core
import numpy as np
import pytest
import yaml
from sphinx.ext.napoleon import Config, NumpyDocstring

from icl.domain import (
    Accuracy,
    Choice,
    Condition,
    Flag,
    Given,
    Integer,
    Real,
    declare,
    declared_error,
    domain_of,
)


@declare(
    Accuracy(relative=1e-12, note="closed form"),
    n=Integer(1, 10**6),
    sigma2=Real(0.0, 1e6),
    t=Real(array=True),
    tie=Choice(("uniform", "lose")),
    every=Flag(),
    where=[
        Condition(
            "n >= 2 or sigma2 > 0", lambda n, sigma2: n >= 2 or sigma2 > 0, {"n": 1, "sigma2": 0.0}
        )
    ],
)
def toy(t, n: int, sigma2: float, *, tie: str = "uniform", every: bool = False):
    """A toy function."""
    return n, sigma2, t, tie, every


GOOD = dict(t=[0.0, -1.0], n=3, sigma2=0.5)


def test_valid_calls_are_converted_and_passed_on():
    n, sigma2, t, tie, every = toy(np.float64(0.5), np.int64(3), 1)
    assert type(n) is int and type(sigma2) is float and t == 0.5 and tie == "uniform"
    assert toy(**GOOD, tie="lose", every=True)[3:] == ("lose", True)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(n=0), "n must be an integer >= 1"),
        (dict(n=10**6 + 1), "n must be an integer <= 1000000"),
        (dict(n=2.5), "n must be an integer"),
        (dict(n=True), "n must be an integer"),
        (dict(sigma2=-1e-300), r"sigma2 must be in \[0, 10\^6\]"),
        (dict(sigma2=math.inf), "sigma2 must be a finite number"),
        (dict(t=[0.0, math.nan]), "t must have finite entries"),
        (dict(t=[]), "t must not be empty"),
        (dict(tie="first"), "tie must be one of"),
        (dict(n=1, sigma2=0.0), r"toy answers only where n >= 2 or sigma2 > 0; got n = 1"),
    ],
)
def test_calls_outside_the_domain_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        toy(**{**GOOD, **change})


def test_a_flag_is_not_taken_from_a_string():
    with pytest.raises(TypeError, match="every must be True or False"):
        toy(**GOOD, every="no")


def test_integers_beyond_int64_are_refused_by_default():
    @declare(Accuracy(absolute=1e-12), size=Integer(1))
    def sized(size):
        return size

    assert sized(2**63 - 1) == 2**63 - 1
    with pytest.raises(ValueError, match=r"<= 2\^63 - 1"):
        sized(2**64)


def test_open_bounds_and_array_ranges():
    @declare(Accuracy(relative=1e-9), p=Real(0.0, 1.0, open_low=True), u=Real(-1, 1, array=True))
    def f(p, u):
        return p

    assert f(1.0, [0.5, -1.0]) == 1.0
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]"):
        f(0.0, 0.0)
    with pytest.raises(ValueError, match=r"u must be in \[-1, 1\], got entries up to 2"):
        f(0.5, [0.0, 2.0])


def test_the_docstring_states_the_domain_and_the_accuracy():
    doc = toy.__doc__
    assert doc.startswith("A toy function.")
    for text in (
        "Domain and accuracy",
        "``n``: integer in [1, 10^6]",
        "``sigma2``: real number in [0, 10^6]",
        "``t``: real number or array of them",
        "where n >= 2 or sigma2 > 0",
        "relative error at most 1e-12 (closed form)",
    ):
        assert text in doc


def test_the_section_renders_through_the_books_napoleon_settings():
    """With the book's napoleon settings the appended section is a section of its own (a rubric)
    and its formulas, which reST would misread (``|x|`` a substitution, ``N*`` emphasis), parse
    without a warning and show as written."""

    @declare(
        Accuracy(relative=1e-9, note="||value - exact|| <= 1e-9 ||exact||; (N*, T*) exact"),
        x=Real(0.0, 1.0),
        where=[Condition("|x - 1/2| <= 1/2 (x_ in range)", lambda x: abs(x - 0.5) <= 0.5)],
    )
    def f(x):
        """A toy function.

        Parameters
        ----------
        x : float
            A number.
        """
        return x

    book = yaml.safe_load((Path(__file__).parents[1] / "_config.yml").read_text())["sphinx"]
    settings = {k: v for k, v in book["config"].items() if k.startswith("napoleon_")}
    rest = str(NumpyDocstring(f.__doc__, Config(**settings), what="function"))
    assert ".. rubric:: Domain and accuracy" in rest and ":param x:" in rest
    warnings = io.StringIO()
    doctree = docutils.core.publish_doctree(
        rest, settings_overrides={"warning_stream": warnings, "report_level": 2}
    )
    assert warnings.getvalue() == ""
    text = doctree.astext()
    assert "||value - exact|| <= 1e-9 ||exact||; (N*, T*) exact" in text
    assert "where |x - 1/2| <= 1/2 (x_ in range)" in text


def test_values_outside_each_range_are_refused_and_samples_inside_are_answered():
    domain = domain_of(toy)
    outside = domain.outside()
    assert outside["where"] == {"n >= 2 or sigma2 > 0": {"n": 1, "sigma2": 0.0}}
    for name, values in outside.items():
        for bad in values.values():
            changes = bad if name == "where" else {name: bad}
            with pytest.raises((ValueError, TypeError)):
                toy(**{**GOOD, **changes})
    rng = np.random.default_rng(0)
    drawn = [domain.sample(rng) for _ in range(500)]
    for kwargs in drawn:
        toy(**kwargs)
    assert {kw["n"] for kw in drawn} >= {1, 10**6}
    assert min(kw["sigma2"] for kw in drawn) == 0.0 and max(kw["sigma2"] for kw in drawn) == 1e6
    assert domain.sample(rng, {"n": 7})["n"] == 7


def test_accuracy_error_in_units_of_the_allowed_error():
    rel = Accuracy(relative=1e-10)
    assert rel.error(1.0 + 5e-11, 1.0) == pytest.approx(0.5)
    assert rel.error(1e-300 * (1 + 2e-10), 1e-300) == pytest.approx(2.0)
    assert rel.error(math.nan, 1.0) == math.inf
    assert rel.error(math.inf, math.inf) == 0.0 and rel.error(-math.inf, math.inf) == math.inf
    assert Accuracy(absolute=1e-12).error(1e-13, 0.0) == pytest.approx(0.1)
    assert rel.error([1.0, 2.0], [1.0]) == math.inf
    with pytest.raises(ValueError, match="relative or an absolute"):
        Accuracy()
    assert Accuracy(exact=False, note="draws").describe().startswith("no error bound")


def test_a_declaration_must_name_the_functions_parameters():
    with pytest.raises(TypeError, match=r"has no parameters \['m'\]"):

        @declare(Accuracy(relative=1e-9), m=Integer())
        def f(n):
            return n

    with pytest.raises(TypeError, match="accuracy must be an Accuracy"):
        declare(1e-9, n=Integer())


def test_given_arguments_use_their_own_check():
    def matrix(name, value):
        value = np.asarray(value, dtype=float)
        if value.ndim != 2:
            raise ValueError(f"{name} must be a matrix")
        return value

    @declare(Accuracy(relative=1e-9), X=Given("a matrix", matrix, bad=(np.ones(3),)))
    def trace(X):
        return float(np.trace(X))

    assert trace([[1, 0], [0, 2]]) == 3.0
    with pytest.raises(ValueError, match="X must be a matrix"):
        trace(np.ones(3))
    assert "``X``: a matrix" in trace.__doc__
    with pytest.raises(NotImplementedError):
        domain_of(trace).sample(np.random.default_rng(0))


def test_declared_error_bounds_the_error_of_computed_values():
    assert Accuracy(relative=0.5).bound([1.0, -3.0]) == pytest.approx((1.0 + 3.0) / 2)
    assert Accuracy(relative=1e-12, absolute=1e-15).bound(0.0) == 1e-15
    assert declared_error(toy, 2.0) == pytest.approx(2e-12)
    with pytest.raises(ValueError, match="declares no accuracy"):
        declared_error(len, 1.0)
    with pytest.raises(ValueError, match="bounds no single value"):
        Accuracy(exact=False).bound(1.0)
