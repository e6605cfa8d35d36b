import json
import math

import pytest
import torch

from icl.harness import claims, montecarlo
from icl.harness.montecarlo import Estimate


@pytest.fixture(autouse=True)
def claims_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ICL_CLAIMS_DIR", str(tmp_path / "claims"))
    claims.start_chapter("chtest")
    return tmp_path / "claims"


def test_passing_check_is_recorded(claims_in_tmp):
    est = Estimate(1.01, 0.01, 1000, 0.5, "cpu", "float64", 7)
    record = claims.check("t.pass", "x = 1", 1.0, est, rejects={"x = 2": 2.0}, n=3)
    assert (
        record.passed
        and abs(record.z_score - 1.0) < 1e-9
        and record.samples == 1000
        and record.seed == 7
    )
    assert record.rejects["x = 2"]["rejected"]
    (saved,) = json.loads((claims_in_tmp / "chtest.json").read_text())
    assert saved["claim_id"] == "t.pass" and saved["params"] == {"n": 3} and saved["passed"]
    assert abs(saved["detectable_relative"] - 0.04) < 1e-12


def test_failing_check_raises_and_is_recorded_as_failed(claims_in_tmp):
    with pytest.raises(AssertionError, match=r"\[FAIL\] t.fail"):
        claims.check("t.fail", "x = 1", 1.0, 1.5, 0.1)
    (saved,) = claims.load_records("chtest")
    assert (
        saved["claim_id"] == "t.fail"
        and not saved["passed"]
        and saved["z_score"] == pytest.approx(5.0)
    )


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


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        (("t", "s", 1.0, 1.0), {}, "stderr is required"),
        (("t", "s", 1.0, 1.0, 0.0), {}, "stderr"),
        (("t", "s", 1.0, 1.0, 0.1), {"z": -1}, "z must"),
        (("", "s", 1.0, 1.0, 0.1), {}, "claim_id"),
        (("t", "s", float("nan"), 1.0, 0.1), {}, "theory"),
        (
            ("t", "s", 1.0, Estimate(1.0, 0.1, 10, 0.0, "cpu", "float64", 0), 0.1),
            {},
            "stderr is taken",
        ),
    ],
)
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
    with pytest.raises(ValueError, match="chapter"):
        claims.start_chapter("bad name!")


def test_record_files_are_where_the_chapter_writes(claims_in_tmp):
    claims.check("t.file", "s", 1.0, 1.0, 0.1)
    claims.measure("t.measured", "m", 2.0, 0.5)
    files = claims.record_files("chtest")
    assert files == {
        "claims": claims_in_tmp / "chtest.json",
        "measurements": claims_in_tmp.parent / "measurements" / "chtest.json",
    }
    assert [r["claim_id"] for r in json.loads(files["claims"].read_text())] == ["t.file"]
    assert [m["measure_id"] for m in json.loads(files["measurements"].read_text())] == [
        "t.measured"
    ]
    with pytest.raises(ValueError, match="chapter"):
        claims.record_files("../etc")


def test_summary_says_how_far_each_wrong_formula_lies():
    record = claims.check(
        "t.far", "x = 1", 1.0, 1.0, 0.01, rejects={"x = 1.31": 1.31, "x = 1.046": 1.046}
    )
    assert record.summary().endswith("; rejects x = 1.31 at 31 SE, x = 1.046 at 4.6 SE")
    assert "rejects" not in claims.check("t.none", "x = 1", 1.0, 1.0, 0.01).summary()


def test_paired_check_uses_the_standard_error_of_the_differences(claims_in_tmp):
    gen = torch.Generator().manual_seed(0)
    shared = 10 * torch.randn(
        400, generator=gen, dtype=torch.float64
    )  # varies from prompt to prompt
    exact = shared + 1.0
    simulated = shared + 1.0 + 0.1 * torch.randn(400, generator=gen, dtype=torch.float64)
    record = claims.check_paired(
        "t.paired",
        "E sim = E exact",
        simulated,
        exact,
        rejects={"exact + 0.1": exact + 0.1, "a number": 0.5},
        n=4,
    )
    diff = (simulated - exact).numpy()
    assert record.theory == pytest.approx(exact.mean().item(), rel=1e-14)
    assert record.estimate == pytest.approx(simulated.mean().item(), rel=1e-14)
    assert record.stderr == pytest.approx(
        diff.std(ddof=1) / 20, rel=1e-12
    )  # not the SE of sim alone (about 0.5)
    assert record.rejects["exact + 0.1"]["theory"] == pytest.approx(
        exact.mean().item() + 0.1, rel=1e-14
    )
    assert record.samples == 400 and record.passed
    (saved,) = json.loads((claims_in_tmp / "chtest.json").read_text())
    assert (
        saved["claim_id"] == "t.paired" and saved["params"] == {"n": 4} and saved["samples"] == 400
    )


def test_paired_check_from_kept_estimate_columns_records_the_run():
    def sample(batch, gen):
        z = torch.randn(batch, generator=gen, dtype=torch.float64)
        return torch.stack(
            [z, z + 0.01 * torch.randn(batch, generator=gen, dtype=torch.float64)], 1
        )

    est = montecarlo.estimate_mean(sample, 64, seed=5, chunk_size=10, dev="cpu", keep_values=True)
    record = claims.check_paired(
        "t.columns",
        "E column 0 = E column 1",
        est[0],
        est[1],
        rejects={"column 1 + 0.1": est[1].values + 0.1},
    )
    assert record.seed == 5 and record.samples == 64 and record.device == "cpu" and record.passed
    assert record.theory == est[1].mean and record.estimate == est[0].mean
    assert record.rejects["column 1 + 0.1"]["theory"] == pytest.approx(est[1].mean + 0.1)


def test_paired_check_rejects_unpaired_input():
    with pytest.raises(ValueError, match="one value per prompt"):
        claims.check_paired("t.p", "s", torch.zeros(5), torch.zeros(6))
    with pytest.raises(ValueError, match="kept its values"):
        claims.check_paired(
            "t.p", "s", montecarlo.Estimate(1.0, 0.1, 10, 0.0, "cpu", "float64", 0), torch.zeros(10)
        )
    with pytest.raises(ValueError, match="one value per prompt"):
        claims.check_paired("t.p", "s", torch.zeros(5, 2), torch.zeros(5, 2))


def test_recording_before_start_chapter_is_an_error(monkeypatch):
    monkeypatch.setattr(claims, "_chapter", None)
    with pytest.raises(RuntimeError, match="start_chapter"):
        claims.check("t.early", "x = 1", 1.0, 1.0, 0.1)
    with pytest.raises(RuntimeError, match="start_chapter"):
        claims.measure("t.early", "x", 1.0, 0.1)


def test_measure_record_replace_and_load(claims_in_tmp):
    first = claims.measure("chX.gap", "a gap", 0.3, 0.1, n=5)
    assert (
        first.z_from_zero == pytest.approx(3.0)
        and "0.3" in first.summary()
        and first.chapter == "chtest"
    )
    claims.measure("chX.gap", "a gap", -0.2, 0.1, n=6)
    claims.measure("chX.other", "another", 1.0, 0.5)
    items = claims.load_measurements("chtest")
    assert [m["measure_id"] for m in items] == ["chX.gap", "chX.other"]
    assert items[0]["estimate"] == -0.2 and items[0]["params"] == {"n": 6}
    path = claims_in_tmp.parent / "measurements" / "chtest.json"
    assert json.loads(path.read_text()) == items
    assert claims.load_records("chtest") == []  # measurements are not checks
    claims.start_chapter("chtest")
    assert claims.load_measurements("chtest") == []
    assert claims.load_measurements("chY") == []


def test_measure_per_prompt_values_and_a_floor():
    values = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64)
    m = claims.measure("chX.values", "mean of four", values, T=1.0)
    assert m.estimate == pytest.approx(3.0) and m.stderr == pytest.approx(
        values.numpy().std(ddof=1) / 2
    )
    flat = claims.measure("chX.flat", "all equal", torch.ones(8), min_stderr=1e-3)
    assert flat.stderr == 1e-3 and flat.z_from_zero == pytest.approx(1000.0)
    assert (
        claims.measure(
            "chX.est", "e", montecarlo.Estimate(0.5, 0.25, 10, 0.0, "cpu", "float64", 0)
        ).z_from_zero
        == 2
    )


def test_measure_errors():
    with pytest.raises(ValueError, match="stderr"):
        claims.measure("chX.a", "s", 1.0, 0.0)
    with pytest.raises(ValueError, match="stderr"):
        claims.measure("chX.a", "s", torch.ones(4))
    with pytest.raises(ValueError, match="stderr is required"):
        claims.measure("chX.a", "s", 1.0)
    with pytest.raises(ValueError, match="estimate"):
        claims.measure("chX.a", "s", float("nan"), 1.0)
    with pytest.raises(ValueError, match="measure_id"):
        claims.measure(" ", "s", 1.0, 1.0)


def test_chapter_summary_asserts_what_it_says():
    claims.check("t.summary.a", "x = 1", 1.0, 1.01, 0.01, rejects={"x = 2": 2.0}, ignores={})
    claims.check(
        "t.summary.b", "x = 1", 1.0, 0.97, 0.01, 4.5, rejects={"x = 2": 2.0}, ignores={"T": 1e-3}
    )
    line = claims.chapter_summary(at_least=2)
    assert (
        line.startswith("2 recorded checks in this chapter, all passed")
        and "worst |z| = 3.00" in line
    )
    assert "worst |z| / z = 0.67" in line
    with pytest.raises(AssertionError, match="expected 3"):
        claims.chapter_summary(exactly=3)
    with pytest.raises(AssertionError, match="at least 5"):
        claims.chapter_summary(at_least=5)
    claims.check("t.summary.e", "x = 1", 1.0, 1.0, 0.01, rejects={"x = 2": 2.0})
    with pytest.raises(AssertionError, match="do not state the biases"):
        claims.chapter_summary()
    claims.check("t.summary.c", "x = 1", 1.0, 1.0, 0.01, ignores={})
    with pytest.raises(AssertionError, match="no wrong formula"):
        claims.chapter_summary()
    with pytest.raises(AssertionError):
        claims.check("t.summary.d", "x = 1", 1.0, 2.0, 0.01)
    with pytest.raises(AssertionError, match="failed checks"):
        claims.chapter_summary()


def test_a_check_fails_when_the_bias_it_ignores_exceeds_a_quarter_se():
    claims.start_chapter("t-bias")
    record = claims.check(
        "t.bias.ok", "x = 1", 1.0, 1.0, 0.01, rejects={"x = 2": 2.0}, ignores={"finite N": 0.0025}
    )
    assert record.bias_bound == 0.0025 and "ignores biases up to 0.25 SE" in record.summary()
    with pytest.raises(AssertionError, match="biases it ignores"):
        claims.check(
            "t.bias.big", "x = 1", 1.0, 1.0, 0.01, rejects={"x = 2": 2.0}, ignores={"N": 0.003}
        )
    assert not next(r for r in claims.load_records("t-bias") if r["claim_id"] == "t.bias.big")[
        "passed"
    ]
    for bad in ({"N": -1.0}, {"N": math.nan}, {"": 0.1}, [0.1]):
        with pytest.raises((ValueError, TypeError), match="ignores"):
            claims.check("t.bias.bad", "x = 1", 1.0, 1.0, 0.01, ignores=bad)


def test_an_id_is_not_used_up_when_its_record_cannot_be_written(monkeypatch):
    claims.start_chapter("t-write")

    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(claims, "_replace", refuse)
    with pytest.raises(OSError):
        claims.check("t.write.a", "x = 1", 1.0, 1.0, 0.01, rejects={"x = 2": 2.0}, ignores={})
    monkeypatch.undo()
    claims.check("t.write.a", "x = 2 (another claim)", 2.0, 2.0, 0.01, rejects={"x": 3.0})
