"""Recorded measurements: a number with its standard error where no closed form predicts it.

A check (:mod:`icl.claims`) compares an estimate with a theory and can fail. A
*measurement* is a comparison whose answer is not known in advance, such as
how far a trained model's accuracy lies below the Bayes-optimal accuracy; it
is recorded with its standard error so that the book can tabulate it, and
never fails. Records go to ``<claims_dir()>/../measurements/<chapter>.json``
(beside the claims, not among them), one JSON list per chapter; recording an
id again replaces its earlier record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from icl.claims import claims_dir
from icl.validation import real


@dataclass
class Measurement:
    """One recorded measurement: ``estimate ± stderr``, with ``z = estimate / stderr`` (its distance from 0)."""

    measure_id: str
    chapter: str
    statement: str
    estimate: float
    stderr: float
    z_from_zero: float
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: id, estimate ± SE and its distance from zero in SE."""
        return f"{self.measure_id}: {self.estimate:.4g} ± {self.stderr:.2g} ({self.z_from_zero:+.1f} SE from 0)"


def measurements_path(chapter: str) -> Path:
    """The file holding ``chapter``'s measurements."""
    if not isinstance(chapter, str) or not chapter or not chapter.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"chapter must be a non-empty name of letters, digits, '-' and '_', got {chapter!r}")
    return claims_dir().parent / "measurements" / f"{chapter}.json"


def start(chapter: str) -> None:
    """Clear the earlier measurements of ``chapter``."""
    path = measurements_path(chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[]\n")


def record(chapter: str, measure_id: str, statement: str, estimate: float, stderr: float, **params) -> Measurement:
    """Record ``estimate ± stderr`` under ``measure_id`` in ``chapter`` and return it."""
    if not isinstance(measure_id, str) or not measure_id.strip():
        raise ValueError(f"measure_id must be a non-empty string, got {measure_id!r}")
    estimate = real("estimate", float(estimate))
    stderr = real("stderr", float(stderr), minimum=0.0, strict=True)
    item = Measurement(measure_id, chapter, statement, estimate, stderr, estimate / stderr,
                       {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()})
    path = measurements_path(chapter)
    items = json.loads(path.read_text()) if path.is_file() else []
    items = [m for m in items if m["measure_id"] != measure_id] + [asdict(item)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, indent=1, default=str) + "\n")
    return item


def load(chapter: str) -> list[dict]:
    """The measurements recorded for ``chapter`` (empty if none)."""
    path = measurements_path(chapter)
    return json.loads(path.read_text()) if path.is_file() else []
