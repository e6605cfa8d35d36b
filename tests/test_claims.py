import json

import pytest

from icl import claims
from icl.montecarlo import Estimate


@pytest.fixture(autouse=True)
def claims_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ICL_CLAIMS_DIR", str(tmp_path))
    claims.start_chapter("chtest")
    return tmp_path


def test_passing_check_is_recorded(claims_in_tmp):
    est = Estimate(1.01, 0.01, 1000, 0.5, "cpu", "float64", 7)
    record = claims.check("t.pass", "x = 1", 1.0, est, rejects={"x = 2": 2.0}, n=3)
    assert record.passed and abs(record.z_score - 1.0) < 1e-9 and record.samples == 1000 and record.seed == 7
    assert record.rejects["x = 2"]["rejected"]
    (saved,) = json.loads((claims_in_tmp / "chtest.json").read_text())
    assert saved["claim_id"] == "t.pass" and saved["params"] == {"n": 3} and saved["passed"]
    assert abs(saved["detectable_relative"] - 0.04) < 1e-12


def test_failing_check_raises_and_is_recorded_as_failed(claims_in_tmp):
    with pytest.raises(AssertionError, match=r"\[FAIL\] t.fail"):
        claims.check("t.fail", "x = 1", 1.0, 1.5, 0.1)
    (saved,) = claims.load_records("chtest")
    assert saved["claim_id"] == "t.fail" and not saved["passed"] and saved["z_score"] == pytest.approx(5.0)


def test_check_without_power_fails():
    with pytest.raises(AssertionError, match="lacks power"):
        claims.check("t.weak", "x = 1", 1.0, 1.0, 0.5, rejects={"x = 1.1": 1.1})
    assert not claims.load_records("chtest")[0]["passed"]


def test_rerecording_replaces_and_start_chapter_clears():
    claims.check("t.a", "s", 1.0, 1.0, 0.1)
    claims.check("t.a", "s", 1.0, 1.05, 0.1)
    assert [r["estimate"] for r in claims.load_records("chtest")] == [1.05]
    claims.start_chapter("chtest")
    assert claims.load_records("chtest") == []


@pytest.mark.parametrize("args,kwargs,match", [
    (("t", "s", 1.0, 1.0), {}, "stderr is required"),
    (("t", "s", 1.0, 1.0, 0.0), {}, "stderr"),
    (("t", "s", 1.0, 1.0, 0.1), {"z": -1}, "z must"),
    (("", "s", 1.0, 1.0, 0.1), {}, "claim_id"),
    (("t", "s", float("nan"), 1.0, 0.1), {}, "theory"),
    (("t", "s", 1.0, Estimate(1.0, 0.1, 10, 0.0, "cpu", "float64", 0), 0.1), {}, "stderr is taken"),
])
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        claims.check(*args, **kwargs)


def test_same_id_for_a_different_claim_is_rejected():
    claims.check("t.dup", "x = 1", 1.0, 1.0, 0.1, n=1)
    with pytest.raises(ValueError, match="duplicate claim id"):
        claims.check("t.dup", "x = 1", 1.0, 1.0, 0.1, n=2)


def test_bad_chapter_name():
    with pytest.raises(ValueError, match="chapter"):
        claims.start_chapter("../etc")
