import dataclasses

import pytest
import torch

from icl import bench


@pytest.mark.parametrize("name", sorted(bench.KERNELS))
def test_batched_and_looped_agree_in_distribution(name):
    result = bench.run(bench.KERNELS[name], "tiny", seed=0)
    assert result.agree, f"{name}: z = {result.z_difference:.2f}"
    assert (
        result.seconds_batched > 0
        and result.seconds_looped > 0
        and result.chain_steps_per_second > 0
    )
    assert result.bound in ("gemm", "variates") and result.limit_seconds > 0
    assert result.fraction_of_limit == pytest.approx(result.limit_seconds / result.seconds_batched)
    assert result.limits["variates_per_second"] > 0 and result.limits["gemm_gflops"] > 0


def test_work_counts_flops_exactly():
    work = bench.Work(
        gemms={(2, 3, 4, 5): 2, (1, 1, 1, 1): 3},
        variates=6,
        variate_shape=(2, 3),
        law="normal",
        passes=1,
    )
    assert work.flops() == 2 * 120 * 2 + 2 * 3
    p = bench.KERNELS["noisy-chains"].sizes["prototype"]
    assert bench.KERNELS["noisy-chains"].work(p).flops() == 8 * 1000 * 200 * 2 * 50 * 50


def test_the_comparison_detects_a_different_distribution():
    kernel = bench.KERNELS["noisy-chains"]
    wrong_level = dict(kernel.sizes["tiny"], level=0.0001)
    wrong = dataclasses.replace(
        kernel, looped=lambda p, prompts, gen: kernel.looped(wrong_level, prompts, gen)
    )
    assert not bench.run(wrong, "tiny", seed=0).agree


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="size must be one of"):
        bench.run(bench.KERNELS["noisy-chains"], "huge")


def test_command_line_prints_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = bench.main(["--size", "tiny", "--json", str(out)])
    assert out.is_file() and len(results) == len(bench.KERNELS)
    assert "agree in distribution: True" in capsys.readouterr().out


def test_work_and_measured_limits_refuse_bad_arguments():
    good = dict(
        gemms={(2, 3, 4, 5): 1}, variates=48, variate_shape=(2, 3, 4), law="normal", passes=5
    )
    with pytest.raises(ValueError, match="law must be one of"):
        bench.Work(**dict(good, law="gamma"))
    with pytest.raises(ValueError, match="variates must be an integer >= 1"):
        bench.Work(**dict(good, variates=0))
    with pytest.raises(ValueError, match="gemms' keys must be"):
        bench.Work(**dict(good, gemms={(2, 3): 1}))
    with pytest.raises(TypeError, match="work must be a Work"):
        bench.measured_limits(good, torch.device("cpu"), torch.float64)
    with pytest.raises(ValueError, match="dtype must be one of"):
        bench.measured_limits(bench.Work(**good), torch.device("cpu"), torch.int64)
