"""The accuracy census: every declared public function of ``icl`` against an independent reference,
on inputs drawn across its declared domain (:mod:`icl.domain`).

Each module ``tests/accuracy/ref_*.py`` registers one :class:`Reference` per function with
:func:`register`: an independent computation of the same value (mpmath at 30 digits or more, an
exact enumeration, a limit or identity that holds exactly, a Monte Carlo of the model for a
sampler), a sampler of valid inputs (by default the declaration's own, :meth:`Domain.sample`),
and fixed cases (the extremes a review found). :func:`run` draws the inputs, calls the function
under a time limit, and measures the error in units of the declared accuracy (at most 1 passes).

``tests/test_accuracy_census.py`` runs a fixed-seed sample in CI; ``scripts/accuracy_census.py``
runs as many inputs as asked and prints the census.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import signal
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from icl.domain import domain_of
from tests.bad_inputs import resolve

CALL_SECONDS = 10.0  # an answer that takes longer counts as a hang


@dataclass(frozen=True)
class Reference:
    """An independent reference for one public function.

    ``exact(**kwargs)`` returns the exact value (or a value far more accurate than the declared
    accuracy) for the function's arguments; ``method`` says how (e.g. "mpmath quad, 30
    digits"). Instead of ``exact``, ``compare(kwargs, value)`` may return the error in units of
    the allowed error directly (a Monte Carlo check of a sampler: ``|z| / 5``, say). ``draw(rng)``
    returns valid keyword arguments (default: the declaration's sampler, with ``fixed``
    arguments kept); ``cases`` are keyword arguments always checked.
    """

    function: str
    method: str
    exact: Callable | None = None
    compare: Callable | None = None
    draw: Callable[[np.random.Generator], dict] | None = None
    fixed: dict = field(default_factory=dict)
    cases: tuple[dict, ...] = ()

    def inputs(self, rng: np.random.Generator) -> dict:
        if self.draw is not None:
            return self.draw(rng)
        domain = domain_of(resolve(self.function))
        if domain is None:
            raise LookupError(f"{self.function} has no declaration to sample from")
        return domain.sample(rng, self.fixed)

    def error(self, kwargs: dict, value) -> float:
        """The value's error in units of the declared accuracy (at most 1: within it)."""
        if self.compare is not None:
            return float(self.compare(kwargs, value))
        accuracy = domain_of(resolve(self.function)).accuracy
        return accuracy.error(_numbers(value), _numbers(self.exact(**kwargs)))


REFERENCES: dict[str, Reference] = {}


def register(reference: Reference) -> Reference:
    """Add ``reference`` to the census (one per function)."""
    if reference.function in REFERENCES:
        raise ValueError(f"{reference.function} has two references")
    if (reference.exact is None) == (reference.compare is None):
        raise ValueError(f"{reference.function}: give exactly one of exact and compare")
    REFERENCES[reference.function] = reference
    return reference


def load_references() -> dict[str, Reference]:
    """Import every ``tests/accuracy/ref_*.py`` (which registers its references)."""
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("ref_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return REFERENCES


def _numbers(value):
    """A value as a float array (tensors, named tuples and sequences of numbers included)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    if isinstance(value, tuple):
        return np.concatenate([np.ravel(_numbers(v)) for v in value])
    return np.asarray(value, dtype=float)


@dataclass
class Result:
    function: str
    kwargs: dict
    error: float  # in units of the declared accuracy; inf for NaN, a crash or a hang
    seconds: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.error <= 1.0


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def check_one(reference: Reference, kwargs: dict) -> Result:
    """Call the function on ``kwargs`` under :data:`CALL_SECONDS` and compare it with the
    reference."""
    function = resolve(reference.function)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = function(**kwargs)
        seconds = time.perf_counter() - start
        signal.setitimer(signal.ITIMER_REAL, 0)
    except _Hang:
        return Result(reference.function, kwargs, math.inf, CALL_SECONDS, "hang")
    except Exception as error:  # noqa: BLE001 - a valid input must be answered
        signal.setitimer(signal.ITIMER_REAL, 0)
        seconds = time.perf_counter() - start
        return Result(reference.function, kwargs, math.inf, seconds, f"{error!r}"[:300])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    try:
        error = reference.error(kwargs, value)
        detail = "" if error <= 1 else f"value {_short(value)}"
    except Exception as problem:  # noqa: BLE001 - a reference that fails is reported
        error, detail = math.inf, f"reference failed: {problem!r}"[:300]
    return Result(reference.function, kwargs, error, seconds, detail)


def _short(value) -> str:
    text = repr(_numbers(value).tolist()) if not isinstance(value, float) else repr(value)
    return text[:120]


def run(names: list[str] | None = None, *, per_function: int = 20, seed: int = 0) -> list[Result]:
    """Each reference's fixed cases and ``per_function`` drawn inputs (one seeded generator per
    function, so that adding a function changes no other's inputs)."""
    references = load_references()
    results = []
    for name in names or sorted(references):
        reference = references[name]
        rng = np.random.default_rng([seed, *name.encode()])
        inputs = list(reference.cases) + [reference.inputs(rng) for _ in range(per_function)]
        results += [check_one(reference, kwargs) for kwargs in inputs]
    return results


def census(results: list[Result]) -> dict[str, dict]:
    """Per function: inputs checked, worst error in units of the declared accuracy, failures,
    slowest call; and the totals under ``"all"``."""
    table: dict[str, dict] = {}
    for r in results:
        row = table.setdefault(
            r.function, {"inputs": 0, "worst": 0.0, "failures": 0, "slowest_s": 0.0}
        )
        row["inputs"] += 1
        row["worst"] = max(row["worst"], r.error)
        row["failures"] += not r.passed
        row["slowest_s"] = max(row["slowest_s"], round(r.seconds, 3))
    table["all"] = {
        "functions": len(table),
        "inputs": len(results),
        "worst": max((r.error for r in results), default=0.0),
        "failures": sum(not r.passed for r in results),
    }
    return table
