"""Recorded checks: a closed form against a Monte Carlo estimate, with a tolerance from its standard error.

A check passes when ``|estimate - theory| <= z * stderr``. It also states what
it can detect: ``z * stderr / |theory|``, the smallest relative deviation from
the theory it would reject, and, through ``rejects``, plausible wrong formulas
that it must reject (a check that would also pass a wrong formula fails: it
has no power).

Every check is written, passed or failed, to
``$ICL_CLAIMS_DIR/<chapter>.json`` (default ``_build/claims`` at the root of
the book, found as the nearest folder above the working directory holding
``_config.yml``), one JSON list per chapter, so the book can tabulate them.
Call :func:`start_chapter` once at the top of a chapter; a claim recorded again
under the same id with the same statement and parameters (a re-run cell)
replaces its earlier record, while the same id for a different claim is an
error.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from icl.montecarlo import Estimate
from icl.validation import real

_chapter: str | None = None
_made_here: dict[str, tuple[str, str]] = {}  # claim id -> (statement, params) recorded by this process


@dataclass
class ClaimRecord:
    """One recorded check (see the module docstring for the pass rule)."""

    claim_id: str
    chapter: str
    statement: str
    theory: float
    estimate: float
    stderr: float
    z: float
    z_score: float
    detectable_relative: float
    passed: bool
    params: dict = field(default_factory=dict)
    rejects: dict = field(default_factory=dict)
    samples: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int | None = None
    seconds: float | None = None

    def summary(self) -> str:
        """One line: id, theory, estimate ± SE, z-score, verdict."""
        verdict = "PASS" if self.passed else "FAIL"
        return (f"[{verdict}] {self.claim_id}: theory {self.theory:.6g}, estimate {self.estimate:.6g} "
                f"± {self.stderr:.2g} (z = {self.z_score:+.2f}, |z| <= {self.z:g}; "
                f"detects a relative deviation of {self.detectable_relative:.2%})")


def claims_dir() -> Path:
    """Where records go: ``$ICL_CLAIMS_DIR``, else ``_build/claims`` beside the nearest ``_config.yml`` above the working directory."""
    env = os.environ.get("ICL_CLAIMS_DIR")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file():
            return folder / "_build" / "claims"
    return here / "_build" / "claims"


def _records_path(chapter: str) -> Path:
    return claims_dir() / f"{chapter}.json"


def start_chapter(chapter: str) -> None:
    """Name the chapter that the following checks belong to, and clear its earlier records."""
    global _chapter
    if not isinstance(chapter, str) or not chapter or not chapter.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"chapter must be a non-empty name of letters, digits, '-' and '_', got {chapter!r}")
    _chapter = chapter
    path = _records_path(chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[]\n")


def load_records(chapter: str | None = None) -> list[dict]:
    """The records written so far, of one chapter or (``None``) of all chapters."""
    folder = claims_dir()
    paths = [_records_path(chapter)] if chapter else sorted(folder.glob("*.json"))
    return [record for path in paths if path.is_file() for record in json.loads(path.read_text())]


def _save(record: ClaimRecord) -> None:
    path = _records_path(record.chapter)
    records = json.loads(path.read_text()) if path.is_file() else []
    records = [r for r in records if r["claim_id"] != record.claim_id] + [asdict(record)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def check(
    claim_id: str,
    statement: str,
    theory: float,
    estimate: float | Estimate,
    stderr: float | None = None,
    z: float = 4.0,
    *,
    rejects: dict[str, float] | None = None,
    **params,
) -> ClaimRecord:
    """Record and assert ``|estimate - theory| <= z * stderr``.

    ``estimate`` is a number (then ``stderr`` is required) or an
    :class:`~icl.montecarlo.Estimate` (its standard error, sample count,
    device, dtype, seed and time are recorded). ``rejects`` maps a label of a
    plausible wrong formula to its value at the same parameters; each must
    lie more than ``z * stderr`` from the estimate. ``params`` are the
    parameters of the check, recorded with it.

    Returns the :class:`ClaimRecord`; raises ``AssertionError`` with a readable
    message if the check fails or lacks the power to reject a wrong formula.
    """
    if _chapter is None:
        raise RuntimeError("call icl.claims.start_chapter(name) before recording a check")
    if not isinstance(claim_id, str) or not claim_id.strip():
        raise ValueError(f"claim_id must be a non-empty string, got {claim_id!r}")
    signature = (statement, repr(sorted(params.items())))
    if _made_here.setdefault(claim_id, signature) != signature:
        raise ValueError(f"duplicate claim id {claim_id!r}: already used for {_made_here[claim_id][0]!r}")
    meta = {}
    if isinstance(estimate, Estimate):
        if stderr is not None:
            raise ValueError("stderr is taken from the Estimate; do not pass it as well")
        meta = dict(samples=estimate.n_samples, device=estimate.device, dtype=estimate.dtype,
                    seed=estimate.seed, seconds=round(estimate.seconds, 4))
        estimate, stderr = estimate.mean, estimate.stderr
    if stderr is None:
        raise ValueError("stderr is required when estimate is a number")
    theory = real("theory", float(theory))
    estimate = real("estimate", float(estimate))
    stderr = real("stderr", float(stderr), minimum=0.0, strict=True)
    z = real("z", z, minimum=0.0, strict=True)
    z_score = (estimate - theory) / stderr
    power = {}
    for label, wrong in (rejects or {}).items():
        wrong_z = (estimate - real(f"rejects[{label!r}]", float(wrong))) / stderr
        power[label] = {"theory": float(wrong), "z_score": wrong_z, "rejected": abs(wrong_z) > z}
    record = ClaimRecord(
        claim_id=claim_id, chapter=_chapter, statement=statement, theory=theory, estimate=estimate,
        stderr=stderr, z=z, z_score=z_score,
        detectable_relative=z * stderr / abs(theory) if theory != 0 else math.inf,
        passed=abs(z_score) <= z and all(p["rejected"] for p in power.values()),
        params=params, rejects=power, **meta,
    )
    _save(record)
    if abs(z_score) > z:
        raise AssertionError(f"{record.summary()}\n  claim: {statement}\n  parameters: {params}")
    unrejected = [label for label, p in power.items() if not p["rejected"]]
    if unrejected:
        raise AssertionError(f"{record.summary()}\n  the check lacks power: it would also pass {unrejected}")
    return record
