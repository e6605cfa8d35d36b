r"""Recorded checks and measurements of a chapter.

A *check* compares a closed form (the theory) with a Monte Carlo estimate and passes when

.. math::

    |\hat\mu - \mu| \le z \cdot \mathrm{SE}

(``estimate`` :math:`\hat\mu`, ``theory`` :math:`\mu`, ``stderr`` SE). It also states what it can
detect: :math:`z \cdot \mathrm{SE} / |\mu|`, the smallest relative deviation from the theory it
would reject, and, through ``rejects``, plausible wrong formulas that it must reject (a check that
would also pass a wrong formula fails: it has no power). Through ``ignores`` it states the biases
it ignores: each gap between the estimate's expectation and the theory that the check does not
model (a finite number of candidates against an :math:`N \to \infty` limit, a finite chain against
its stationary law, a quadrature's error), with a bound on its size, derived or measured by a
paired computation at the check's own settings; ``ignores={}`` says the estimate is unbiased for
the theory. A check whose ignored biases add up to more than a quarter of its standard error
fails (:data:`MAX_BIAS_TO_SE`): at that size they could move its verdict. The rule holds at every
scale; the full-scale run (``ICL_SCALE=full``, where standard errors are 5-40 times smaller) is
where it bites.

:func:`check` takes an estimate with its standard error; :func:`check_paired` takes the simulated
and the exact value on the same prompts and uses the standard error of their per-prompt
differences.

A *measurement* (:func:`measure`) is a number with its standard error where no closed form
predicts it (how far a trained model lies below the Bayes-optimal accuracy, say); it is recorded
so that the book can tabulate it, and never fails.

Call :func:`start_chapter` once at the top of a chapter: it names the chapter and clears its
earlier records. Checks go to ``<claims_dir()>/<chapter>.json`` and measurements to
``<claims_dir()>/../measurements/<chapter>.json``, one JSON list per chapter (``claims_dir()`` is
``$ICL_CLAIMS_DIR``, else ``_build/claims`` at the book's root). Recording an id again replaces
its earlier record; within one process, the same claim id for a different claim is an error.
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from icl.harness.montecarlo import Estimate
from icl.runtime import book_root
from icl.validation import integer, real

MAX_BIAS_TO_SE = 0.25  # the largest ignored bias a check may carry, in its standard errors

_chapter: str | None = None
_made_here: dict[str, tuple[str, str]] = {}  # claim id -> (statement, params) recorded here


@dataclass
class ClaimRecord:
    r"""One recorded check (see the module docstring for the pass rule).

    Attributes
    ----------
    claim_id : str
        The check's id, unique in the book.
    chapter : str
        The chapter that recorded it (``ch01``, ...).
    statement : str
        The claim, in words.
    theory : float
        The closed form's value :math:`\mu`.
    estimate : float
        The Monte Carlo estimate :math:`\hat\mu`.
    stderr : float
        Its standard error SE, :math:`> 0`.
    z : float
        The threshold: the check passes when :math:`|\hat\mu - \mu| \le z \cdot \mathrm{SE}`.
    z_score : float
        :math:`(\hat\mu - \mu) / \mathrm{SE}`.
    detectable_relative : float or None
        :math:`z \cdot \mathrm{SE} / |\mu|`, the smallest relative deviation from the theory the
        check would reject; ``None`` when :math:`\mu = 0` (no relative scale).
    passed : bool
        :math:`|z_\mathrm{score}| \le z`, every wrong formula rejected, and the ignored biases
        within :data:`MAX_BIAS_TO_SE` standard errors.
    params : dict
        The parameters the claim is made at.
    rejects : dict
        Each wrong formula's label to its value (``theory``), its distance from the estimate in
        standard errors (``z_score``) and whether the check rejects it (``rejected``).
    samples : int or None
        The Monte Carlo draws behind the estimate (``None`` when a bare number was checked).
    device : str or None
        The device type of the draws (:class:`~icl.harness.montecarlo.Estimate`'s), when the
        estimate came as an ``Estimate``; likewise ``dtype``, ``seed`` and ``seconds``.
    dtype : str or None
        The draws' dtype.
    seed : int or None
        The draws' seed.
    seconds : float or None
        The seconds the draws took, to 0.1 ms.
    ignores : dict or None
        Each ignored bias to the bound on its size (``None``: not stated; ``{}``: the estimate is
        unbiased for the theory).
    bias_bound : float or None
        The sum of the ignored biases' bounds.
    """

    claim_id: str
    chapter: str
    statement: str
    theory: float
    estimate: float
    stderr: float
    z: float
    z_score: float
    detectable_relative: float | None  # None when theory = 0 (no relative scale)
    passed: bool
    params: dict = field(default_factory=dict)
    rejects: dict = field(default_factory=dict)
    samples: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int | None = None
    seconds: float | None = None
    ignores: dict | None = None
    bias_bound: float | None = None

    def summary(self) -> str:
        """One line: id, theory, estimate ± SE, z-score, verdict, how many SE from the estimate
        each rejected wrong formula lies, and the ignored biases in SE."""
        verdict = "PASS" if self.passed else "FAIL"
        line = (
            f"[{verdict}] {self.claim_id}: theory {self.theory:.6g}, estimate {self.estimate:.6g} "
            f"± {self.stderr:.2g} (z = {self.z_score:+.2f}, |z| <= {self.z:g}; "
            + (
                f"detects a relative deviation of {self.detectable_relative:.2%})"
                if self.detectable_relative is not None
                else f"detects an absolute deviation of {self.z * self.stderr:.2g})"
            )
        )
        if self.rejects:
            line += "; rejects " + ", ".join(
                f"{label} at {_distance(r['z_score'])} SE" for label, r in self.rejects.items()
            )
        if self.ignores:
            line += f"; ignores biases up to {self.bias_bound / self.stderr:.2g} SE"
        elif self.ignores == {}:
            line += "; unbiased"
        return line


@dataclass
class Measurement:
    r"""One recorded measurement: ``estimate ± stderr``, with ``z_from_zero`` the estimate over its
    standard error, :math:`\hat\mu / \mathrm{SE}`."""

    measure_id: str
    chapter: str
    statement: str
    estimate: float
    stderr: float
    z_from_zero: float
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: id, estimate ± SE and its distance from zero in SE."""
        return (
            f"{self.measure_id}: {self.estimate:.4g} ± {self.stderr:.2g} "
            f"({self.z_from_zero:+.1f} SE from 0)"
        )


def _distance(z_score: float) -> str:
    """|z| to one decimal below 10 SE, to the unit above."""
    return f"{abs(z_score):.1f}" if abs(z_score) < 10 else f"{abs(z_score):.0f}"


# --- storage: one JSON list per chapter and kind ---


def claims_dir() -> Path:
    """Where checks go.

    Returns
    -------
    pathlib.Path
        ``$ICL_CLAIMS_DIR``, else ``_build/claims`` at the book's root
        (:func:`icl.runtime.book_root`).
    """
    env = os.environ.get("ICL_CLAIMS_DIR")
    return Path(env) if env else book_root() / "_build" / "claims"


def measurements_dir() -> Path:
    """Where measurements go.

    Returns
    -------
    pathlib.Path
        ``measurements`` beside :func:`claims_dir`.
    """
    return claims_dir().parent / "measurements"


def record_files(chapter: str) -> dict[str, Path]:
    """The files of a chapter's records.

    Parameters
    ----------
    chapter : str
        The chapter's name.

    Returns
    -------
    dict
        ``{"claims": <claims_dir()>/<chapter>.json, "measurements":
        <measurements_dir()>/<chapter>.json}``.
    """
    return {
        "claims": _chapter_file(claims_dir(), chapter),
        "measurements": _chapter_file(measurements_dir(), chapter),
    }


def _chapter_file(folder: Path, chapter: str) -> Path:
    valid = isinstance(chapter, str) and chapter.replace("-", "").replace("_", "").isalnum()
    if not valid:
        raise ValueError(
            f"chapter must be a non-empty name of letters, digits, '-' and '_', got {chapter!r}"
        )
    return folder / f"{chapter}.json"


def _read(folder: Path, chapter: str | None) -> list[dict]:
    paths = [_chapter_file(folder, chapter)] if chapter else sorted(folder.glob("*.json"))
    return [item for path in paths if path.is_file() for item in json.loads(path.read_text())]


def _write(path: Path, items: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, indent=1, default=_jsonable, allow_nan=False) + "\n")


def _replace(folder: Path, chapter: str, key: str, item: dict) -> None:
    """Add ``item`` to the chapter's list, replacing an earlier item with the same ``item[key]``."""
    path = _chapter_file(folder, chapter)
    items = [other for other in _read(folder, chapter) if other[key] != item[key]]
    _write(path, [*items, item])


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def start_chapter(chapter: str) -> None:
    """Name the chapter that the following checks and measurements belong to, and clear its earlier
    records of both kinds.

    Parameters
    ----------
    chapter : str
        The chapter's name.
    """
    global _chapter
    for folder in (claims_dir(), measurements_dir()):
        _write(_chapter_file(folder, chapter), [])
    _chapter = chapter


def _current_chapter() -> str:
    if _chapter is None:
        raise RuntimeError("call icl.harness.claims.start_chapter(name) before recording")
    return _chapter


def load_records(chapter: str | None = None) -> list[dict]:
    """The checks recorded so far, of one chapter or of all chapters.

    Parameters
    ----------
    chapter : str, optional
        The chapter (``None``: all chapters).

    Returns
    -------
    list of dict
        The records, as stored (the fields of :class:`ClaimRecord`).
    """
    return _read(claims_dir(), chapter)


def load_measurements(chapter: str | None = None) -> list[dict]:
    """The measurements recorded so far, of one chapter or of all chapters.

    Parameters
    ----------
    chapter : str, optional
        The chapter (``None``: all chapters).

    Returns
    -------
    list of dict
        The records, as stored (the fields of :class:`Measurement`).
    """
    return _read(measurements_dir(), chapter)


# --- checks ---


def check(
    claim_id: str,
    statement: str,
    theory: float,
    estimate: float | Estimate,
    stderr: float | None = None,
    z: float = 4.0,
    *,
    rejects: dict[str, float] | None = None,
    ignores: dict[str, float] | None = None,
    **params,
) -> ClaimRecord:
    r"""Record a check and assert that it passes.

    Parameters
    ----------
    claim_id : str
        The check's id, unique in the book.
    statement : str
        What the check states.
    theory : float
        The closed form's value :math:`\mu`.
    estimate : float or Estimate
        A number (then ``stderr`` is required) or an :class:`~icl.harness.montecarlo.Estimate`
        of a scalar (its standard error, sample count, device, dtype, seed and time are
        recorded).
    stderr : float, optional
        The estimate's standard error.
    z : float
        How many standard errors the estimate may lie from the theory.
    rejects : dict, optional
        Maps a label of a plausible wrong formula to its value at the same parameters; each must
        lie more than :math:`z \cdot \mathrm{SE}` from the estimate.
    ignores : dict, optional
        Maps a label of each bias the check ignores to a bound on its size (absolute, in the
        estimate's units); ``{}`` when the estimate is unbiased for the theory. Their sum must
        stay within ``MAX_BIAS_TO_SE * stderr``.
    **params
        The parameters of the check, recorded with it.

    Returns
    -------
    ClaimRecord
        The record.

    Raises
    ------
    AssertionError
        With a readable message, if the check fails or lacks the power to reject a wrong
        formula.

    Notes
    -----
    The check passes when :math:`|\hat\mu - \mu| \le z \cdot \mathrm{SE}`.
    """
    meta = {}
    if isinstance(estimate, Estimate):
        if stderr is not None:
            raise ValueError("stderr is taken from the Estimate; do not pass it as well")
        meta = _run_of(estimate)
        estimate, stderr = estimate.mean, estimate.stderr
    if stderr is None:
        raise ValueError("stderr is required when estimate is a number")
    return _record(
        claim_id, statement, theory, estimate, stderr, z, rejects or {}, ignores, params, meta
    )


def check_paired(
    claim_id: str,
    statement: str,
    simulated,
    exact,
    z: float = 4.0,
    *,
    rejects: dict | None = None,
    ignores: dict[str, float] | None = None,
    **params,
) -> ClaimRecord:
    r"""Record and assert :math:`\overline{\text{simulated}} = \overline{\text{exact}}` over the
    same prompts (a paired check).

    Parameters
    ----------
    claim_id : str
        The check's id.
    statement : str
        What the check states.
    simulated, exact : torch.Tensor, numpy.ndarray or Estimate
        Per-prompt values, shape ``(P,)``: tensors, arrays, or
        :class:`~icl.harness.montecarlo.Estimate` objects that kept their values (an Estimate's
        sample count, device, dtype, seed and time are recorded).
    z : float
        As in :func:`check`.
    rejects : dict, optional
        A value is a number or per-prompt values of the wrong formula (their mean is used).
    ignores : dict, optional
        As in :func:`check`.
    **params
        The parameters of the check, recorded with it.

    Returns
    -------
    ClaimRecord
        The record.

    Notes
    -----
    The check is :func:`check` with theory :math:`\bar e` (the mean of ``exact``), estimate
    :math:`\bar s` (the mean of ``simulated``) and the standard error of the per-prompt
    differences,

    .. math::

        \mathrm{SE} = \mathrm{std}_{\mathrm{ddof}=1}(s - e) / \sqrt P:

    what varies from prompt to prompt cancels, so the check is as sharp as the simulation's own
    noise allows.
    """
    sim, ex = _per_prompt("simulated", simulated), _per_prompt("exact", exact)
    if sim.values.shape != ex.values.shape:
        raise ValueError(
            f"simulated and exact must hold one value per prompt each, got shapes "
            f"{sim.values.shape} and {ex.values.shape}"
        )
    if rejects is not None and not isinstance(rejects, dict):
        raise TypeError(f"rejects must be a dict of label -> value, got {type(rejects).__name__}")
    stderr = Estimate.from_values(sim.values - ex.values).stderr
    wrong = {label: _mean_of(label, value) for label, value in (rejects or {}).items()}
    meta = _run_of(simulated) if isinstance(simulated, Estimate) else {"samples": sim.n_samples}
    return _record(claim_id, statement, ex.mean, sim.mean, stderr, z, wrong, ignores, params, meta)


def _per_prompt(name: str, values) -> Estimate:
    if isinstance(values, Estimate):
        if values.values is None or values.values.ndim != 1:
            raise ValueError(f"{name} must be an Estimate of a scalar that kept its values")
        return values
    try:
        estimate = Estimate.from_values(values)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{name}: {error}") from error
    if estimate.values.ndim != 1:
        raise ValueError(
            f"{name} must hold one value per prompt, shape (P,), got {estimate.values.shape}"
        )
    return estimate


def _mean_of(label: str, value) -> float:
    if isinstance(value, Estimate):
        return value.mean
    if np.ndim(value) == 0:
        return value
    return Estimate.from_values(value).mean


def _run_of(estimate: Estimate) -> dict:
    return dict(
        samples=estimate.n_samples,
        device=estimate.device,
        dtype=estimate.dtype,
        seed=estimate.seed,
        seconds=round(estimate.seconds, 4),
    )


def _number(name: str, value) -> float:
    """A finite float from a Python or numpy number (or a 0-d array/tensor), else
    ``ValueError``/``TypeError``."""
    if hasattr(value, "item") and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return real(name, value)


def _ignored_biases(ignores) -> dict[str, float] | None:
    """``ignores`` checked: ``None``, or a dict of non-empty labels to finite bounds >= 0."""
    if ignores is None:
        return None
    if not isinstance(ignores, dict):
        raise TypeError(f"ignores must be a dict of label -> bound, got {type(ignores).__name__}")
    checked = {}
    for label, bound in ignores.items():
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"ignores must be labelled by non-empty strings, got {label!r}")
        name = f"ignores[{label!r}]"
        checked[label] = real(name, _number(name, bound), minimum=0.0)
    return checked


def _record(
    claim_id, statement, theory, estimate, stderr, z, rejects, ignores, params, meta
) -> ClaimRecord:
    """Validate the whole call, write the record, then register the id (a refused call, or one
    whose record could not be written, registers nothing)."""
    chapter = _current_chapter()
    if not isinstance(claim_id, str) or not claim_id.strip():
        raise ValueError(f"claim_id must be a non-empty string, got {claim_id!r}")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"statement must be a non-empty string, got {statement!r}")
    if not isinstance(rejects, dict):
        raise TypeError(f"rejects must be a dict of label -> value, got {type(rejects).__name__}")
    theory = _number("theory", theory)
    estimate = _number("estimate", estimate)
    stderr = real("stderr", _number("stderr", stderr), minimum=0.0, strict=True)
    z = real("z", _number("z", z), minimum=0.0, strict=True)
    ignores = _ignored_biases(ignores)
    bias_bound = None if ignores is None else float(sum(ignores.values()))
    z_score = (estimate - theory) / stderr
    power = {}
    for label, wrong in rejects.items():
        wrong = _number(f"rejects[{label!r}]", wrong)
        wrong_z = (estimate - wrong) / stderr
        power[label] = {"theory": wrong, "z_score": wrong_z, "rejected": abs(wrong_z) > z}
    signature = (statement, repr(sorted(params.items())))
    if _made_here.get(claim_id, signature) != signature:
        raise ValueError(
            f"duplicate claim id {claim_id!r}: already used for {_made_here[claim_id][0]!r}"
        )
    biased = bias_bound is not None and bias_bound > MAX_BIAS_TO_SE * stderr
    record = ClaimRecord(
        claim_id=claim_id,
        chapter=chapter,
        statement=statement,
        theory=theory,
        estimate=estimate,
        stderr=stderr,
        z=z,
        z_score=z_score,
        detectable_relative=z * stderr / abs(theory) if theory != 0 else None,
        passed=abs(z_score) <= z and all(p["rejected"] for p in power.values()) and not biased,
        params=params,
        rejects=power,
        ignores=ignores,
        bias_bound=bias_bound,
        **meta,
    )
    _replace(claims_dir(), chapter, "claim_id", asdict(record))
    _made_here[claim_id] = signature
    if abs(z_score) > z:
        raise AssertionError(f"{record.summary()}\n  claim: {statement}\n  parameters: {params}")
    unrejected = [label for label, p in power.items() if not p["rejected"]]
    if unrejected:
        raise AssertionError(
            f"{record.summary()}\n  the check lacks power: it would also pass {unrejected}"
        )
    if biased:
        raise AssertionError(
            f"{record.summary()}\n  the biases it ignores ({ignores}) exceed "
            f"{MAX_BIAS_TO_SE} SE = {MAX_BIAS_TO_SE * stderr:.3g}: model them or shrink them"
        )
    return record


def chapter_summary(*, at_least: int = 1, exactly: int | None = None) -> str:
    """One line on the current chapter's checks, after asserting that every one passed and names a
    wrong formula it rejects, and that there are enough of them.

    Parameters
    ----------
    at_least : int
        The least number of checks.
    exactly : int, optional
        The number of checks, if given.

    Returns
    -------
    str
        The line.
    """
    chapter = _current_chapter()
    at_least = integer("at_least", at_least, minimum=0)
    if exactly is not None:
        exactly = integer("exactly", exactly, minimum=0)
    records = load_records(chapter)
    failed = [r["claim_id"] for r in records if not r["passed"]]
    assert not failed, f"failed checks in {chapter}: {failed}"
    powerless = [r["claim_id"] for r in records if not r["rejects"]]
    assert not powerless, f"checks in {chapter} that name no wrong formula they reject: {powerless}"
    unstated = [r["claim_id"] for r in records if r.get("ignores") is None]
    assert not unstated, (
        f"checks in {chapter} that do not state the biases they ignore (ignores=...): {unstated}"
    )
    if exactly is not None:
        assert len(records) == exactly, (
            f"{chapter} recorded {len(records)} checks, expected {exactly}"
        )
    assert len(records) >= at_least, (
        f"{chapter} recorded {len(records)} checks, expected at least {at_least}"
    )
    line = (
        f"{len(records)} recorded checks in this chapter, all passed, "
        "each rejecting at least one wrong formula and within a quarter SE of the biases it "
        "ignores; "
        f"worst |z| = {max((abs(r['z_score']) for r in records), default=0.0):.2f}"
    )
    if any(r["z"] != 4.0 for r in records):
        line += f", worst |z| / z = {max(abs(r['z_score']) / r['z'] for r in records):.2f}"
    return line


# --- measurements ---


def measure(
    measure_id: str,
    statement: str,
    estimate,
    stderr: float | None = None,
    *,
    min_stderr: float = 0.0,
    **params,
) -> Measurement:
    """Record ``estimate ± stderr`` under ``measure_id`` in the current chapter and return it.

    Parameters
    ----------
    measure_id : str
        The measurement's id.
    statement : str
        What it measures.
    estimate : float, Estimate or array
        A number (then ``stderr`` is required), an :class:`~icl.harness.montecarlo.Estimate` of
        a scalar, or per-prompt values (their mean and its standard error,
        :meth:`Estimate.from_values`).
    stderr : float, optional
        The standard error of a number.
    min_stderr : float
        The least standard error recorded (a resolution, such as a grid's step); the standard
        error recorded must be positive.
    **params
        The parameters of the measurement, recorded with it.

    Returns
    -------
    Measurement
        The record.
    """
    if not isinstance(measure_id, str) or not measure_id.strip():
        raise ValueError(f"measure_id must be a non-empty string, got {measure_id!r}")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"statement must be a non-empty string, got {statement!r}")
    if isinstance(estimate, str):
        raise TypeError(
            f"estimate must be a number, an Estimate or per-prompt values, got {estimate!r}"
        )
    if not isinstance(estimate, Estimate) and np.ndim(estimate) > 0:
        estimate = Estimate.from_values(estimate)
    if isinstance(estimate, Estimate):
        if stderr is not None:
            raise ValueError("stderr is taken from the estimate; do not pass it as well")
        estimate, stderr = estimate.mean, estimate.stderr
    if stderr is None:
        raise ValueError("stderr is required when estimate is a number")
    chapter = _current_chapter()
    estimate = _number("estimate", estimate)
    min_stderr = real("min_stderr", min_stderr, minimum=0.0)
    stderr = real("stderr", max(_number("stderr", stderr), min_stderr), minimum=0.0, strict=True)
    params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    item = Measurement(measure_id, chapter, statement, estimate, stderr, estimate / stderr, params)
    _replace(measurements_dir(), chapter, "measure_id", asdict(item))
    return item
