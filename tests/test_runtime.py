import pytest
import torch
from scipy import stats

from icl import runtime


def test_scale_device_and_dtype(monkeypatch):
    monkeypatch.delenv("ICL_DTYPE", raising=False)
    monkeypatch.setenv("ICL_SCALE", "full")
    assert runtime.scale() == "full" and runtime.by_scale(1, 2) == 2
    monkeypatch.setenv("ICL_SCALE", "smoke")
    assert runtime.by_scale(1, 2) == 1
    monkeypatch.setenv("ICL_SCALE", "huge")
    with pytest.raises(ValueError, match="ICL_SCALE"):
        runtime.scale()
    monkeypatch.setenv("ICL_DEVICE", "tpu")
    with pytest.raises(ValueError, match="ICL_DEVICE"):
        runtime.device()
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    assert runtime.device().type == "cpu" and runtime.dtype() == torch.float64
    assert runtime.dtype(torch.device("cuda")) == torch.float32


def test_dtype_override(monkeypatch):
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    monkeypatch.setenv("ICL_DTYPE", "float32")
    assert runtime.dtype() == torch.float32
    monkeypatch.setenv("ICL_DTYPE", "Float64")
    assert runtime.dtype(torch.device("cuda")) == torch.float64
    monkeypatch.setenv("ICL_DTYPE", "half")
    with pytest.raises(ValueError, match="ICL_DTYPE"):
        runtime.dtype()


def test_settings_are_resolved(monkeypatch):
    for name in ("ICL_SCALE", "ICL_DTYPE", "ICL_MODEL_SCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    unset = runtime.settings()
    assert unset == {
        "ICL_SCALE": "smoke",
        "ICL_MODEL_SCALE": "smoke",
        "ICL_DTYPE": "float64",
        "ICL_DEVICE": "cpu",
    }
    monkeypatch.setenv("ICL_SCALE", "Smoke")  # the same run, spelled otherwise
    assert runtime.settings() == unset
    monkeypatch.setenv("ICL_DTYPE", "float32")
    assert runtime.settings()["ICL_DTYPE"] == "float32"
    monkeypatch.setenv("ICL_SCALE", "full")
    assert runtime.settings()["ICL_MODEL_SCALE"] == "full"  # the scale's models by default
    monkeypatch.setenv("ICL_MODEL_SCALE", "smoke")
    assert runtime.settings()["ICL_MODEL_SCALE"] == runtime.model_scale() == "smoke"
    monkeypatch.setenv("ICL_MODEL_SCALE", "big")
    with pytest.raises(ValueError, match="ICL_MODEL_SCALE"):
        runtime.model_scale()
    monkeypatch.setenv("ICL_SCALE", "tiny")
    with pytest.raises(ValueError, match="ICL_SCALE"):
        runtime.settings()


def test_one_thread_on_cpu_only(monkeypatch):
    threads = torch.get_num_threads()
    try:
        monkeypatch.setenv("ICL_DEVICE", "cpu")
        runtime.one_thread_on_cpu()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_generator_is_seeded_and_checks_the_seed():
    a = torch.rand(3, generator=runtime.generator(4, "cpu"))
    assert torch.equal(a, torch.rand(3, generator=runtime.generator(4, "cpu")))
    with pytest.raises(ValueError, match="seed"):
        runtime.generator(-1, "cpu")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_standard_normal_is_standard_normal_repeatable_and_advances_its_generator(dtype):
    draws = runtime.standard_normal(
        (1000, 1000), generator=runtime.generator(7, "cpu"), dtype=dtype
    )
    assert draws.shape == (1000, 1000) and draws.dtype == dtype and draws.device.type == "cpu"
    values = draws.double().flatten().numpy()
    assert stats.kstest(values, "norm").pvalue > 1e-3
    # the wrong law a mix-up of scale would give is rejected by the same test
    assert stats.kstest(values, "norm", args=(0, 1.02)).pvalue < 1e-6
    # tails as far as 10^6 draws reach (float32 Box-Muller stops near 5.7 sigma)
    assert abs(values).max() > 4.5
    gen = runtime.generator(7, "cpu")
    first = runtime.standard_normal((1000, 1000), generator=gen, dtype=dtype)
    assert torch.equal(first, draws)
    assert not torch.equal(runtime.standard_normal((1000, 1000), generator=gen, dtype=dtype), first)


def test_standard_normal_is_torch_randn_except_in_float64_on_the_cpu():
    for dtype, same in [(torch.float32, True), (torch.float64, False)]:
        ours = runtime.standard_normal((5, 4), generator=runtime.generator(3, "cpu"), dtype=dtype)
        theirs = torch.randn(5, 4, generator=runtime.generator(3, "cpu"), dtype=dtype)
        assert torch.equal(ours, theirs) == same


def test_describe_run_and_timer(monkeypatch):
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    line = runtime.describe_run()
    assert line.startswith("device: cpu (") and "dtype: float64" in line and "ICL_SCALE" in line
    assert runtime.processor_name()
    assert runtime.Timer().seconds() >= 0


def test_book_root_is_the_nearest_folder_with_a_config(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("title: t\n")
    inner = tmp_path / "book" / "data"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    assert runtime.book_root() == tmp_path.resolve()
