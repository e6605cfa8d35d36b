import json

import pytest

from icl import measurements


def test_record_replace_and_load(tmp_path, monkeypatch):
    monkeypatch.setenv("ICL_CLAIMS_DIR", str(tmp_path / "claims"))
    measurements.start("chX")
    first = measurements.record("chX", "chX.gap", "a gap", 0.3, 0.1, n=5)
    assert first.z_from_zero == pytest.approx(3.0) and "0.3" in first.summary()
    measurements.record("chX", "chX.gap", "a gap", -0.2, 0.1, n=6)
    measurements.record("chX", "chX.other", "another", 1.0, 0.5)
    items = measurements.load("chX")
    assert [m["measure_id"] for m in items] == ["chX.gap", "chX.other"]
    assert items[0]["estimate"] == -0.2 and items[0]["params"] == {"n": 6}
    path = tmp_path / "measurements" / "chX.json"
    assert json.loads(path.read_text()) == items
    assert not (tmp_path / "claims" / "chX.json").exists()
    measurements.start("chX")
    assert measurements.load("chX") == []
    assert measurements.load("chY") == []


def test_record_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("ICL_CLAIMS_DIR", str(tmp_path / "claims"))
    with pytest.raises(ValueError, match="stderr"):
        measurements.record("chX", "chX.a", "s", 1.0, 0.0)
    with pytest.raises(ValueError, match="estimate"):
        measurements.record("chX", "chX.a", "s", float("nan"), 1.0)
    with pytest.raises(ValueError, match="measure_id"):
        measurements.record("chX", " ", "s", 1.0, 1.0)
    with pytest.raises(ValueError, match="chapter"):
        measurements.start("bad name!")
