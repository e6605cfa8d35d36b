import numpy as np
import pytest
import torch

from icl import montecarlo


def test_mean_and_standard_error_match_numpy_across_chunks():
    def sample(batch, gen):
        return torch.randn(batch, generator=gen, dtype=torch.float64) * 2 + 1

    est = montecarlo.estimate_mean(sample, 1000, seed=3, chunk_size=77, dev="cpu")
    gen = montecarlo.generator(3, "cpu")
    values = torch.cat([sample(77, gen) for _ in range(12)] + [sample(1000 - 12 * 77, gen)]).numpy()
    assert np.isclose(est.mean, values.mean(), rtol=1e-12)
    assert np.isclose(est.stderr, values.std(ddof=1) / np.sqrt(1000), rtol=1e-10)
    assert est.n_samples == 1000 and est.seed == 3 and est.device == "cpu" and est.dtype == "float64"


def test_vector_valued_estimate_and_indexing():
    est = montecarlo.estimate_mean(lambda b, g: torch.rand(b, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64),
                                   20000, seed=0, dev="cpu")
    assert est.mean.shape == (3,)
    for i, expected in enumerate([0.5, 1.0, 2.0]):
        assert abs(est[i].mean - expected) < 4 * est[i].stderr


def test_same_seed_same_estimate():
    sample = lambda b, g: torch.rand(b, generator=g, dtype=torch.float64)
    a = montecarlo.estimate_mean(sample, 500, seed=9, chunk_size=64, dev="cpu")
    b = montecarlo.estimate_mean(sample, 500, seed=9, chunk_size=64, dev="cpu")
    assert a.mean == b.mean and a.stderr == b.stderr


def test_scale_device_and_dtype(monkeypatch):
    monkeypatch.setenv("ICL_SCALE", "full")
    assert montecarlo.scale() == "full" and montecarlo.by_scale(1, 2) == 2
    monkeypatch.setenv("ICL_SCALE", "smoke")
    assert montecarlo.by_scale(1, 2) == 1
    monkeypatch.setenv("ICL_SCALE", "huge")
    with pytest.raises(ValueError, match="ICL_SCALE"):
        montecarlo.scale()
    monkeypatch.setenv("ICL_DEVICE", "tpu")
    with pytest.raises(ValueError, match="ICL_DEVICE"):
        montecarlo.device()
    monkeypatch.setenv("ICL_DEVICE", "cpu")
    assert montecarlo.device().type == "cpu" and montecarlo.dtype() == torch.float64
    assert montecarlo.dtype(torch.device("cuda")) == torch.float32


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_samples=0, seed=0), "n_samples"),
    (dict(n_samples=10, seed=-1), "seed"),
    (dict(n_samples=10, seed=0, chunk_size=0), "chunk_size"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        montecarlo.estimate_mean(lambda b, g: torch.zeros(b), dev="cpu", **kwargs)


def test_sampler_returning_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="first dimension"):
        montecarlo.estimate_mean(lambda b, g: torch.zeros(b + 1), 10, seed=0, dev="cpu")
