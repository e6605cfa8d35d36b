import numpy as np
import pytest
import torch

from icl import runtime
from icl.harness import montecarlo
from icl.harness.montecarlo import Estimate


def test_mean_and_standard_error_match_numpy_across_chunks():
    def sample(batch, gen):
        return torch.randn(batch, generator=gen, dtype=torch.float64) * 2 + 1

    est = montecarlo.estimate_mean(sample, 1000, seed=3, chunk_size=77, dev="cpu")
    gen = runtime.generator(3, "cpu")
    values = torch.cat([sample(77, gen) for _ in range(12)] + [sample(1000 - 12 * 77, gen)]).numpy()
    assert np.isclose(est.mean, values.mean(), rtol=1e-12)
    assert np.isclose(est.stderr, values.std(ddof=1) / np.sqrt(1000), rtol=1e-10)
    assert (
        est.n_samples == 1000 and est.seed == 3 and est.device == "cpu" and est.dtype == "float64"
    )


def test_vector_valued_estimate_and_indexing():
    est = montecarlo.estimate_mean(
        lambda b, g: (
            torch.rand(b, 3, generator=g, dtype=torch.float64)
            * torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
        ),
        20000,
        seed=0,
        dev="cpu",
    )
    assert est.mean.shape == (3,)
    for i, expected in enumerate([0.5, 1.0, 2.0]):
        assert abs(est[i].mean - expected) < 4 * est[i].stderr


def test_same_seed_same_estimate():
    sample = lambda b, g: torch.rand(b, generator=g, dtype=torch.float64)
    a = montecarlo.estimate_mean(sample, 500, seed=9, chunk_size=64, dev="cpu")
    b = montecarlo.estimate_mean(sample, 500, seed=9, chunk_size=64, dev="cpu")
    assert a.mean == b.mean and a.stderr == b.stderr


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n_samples=0, seed=0), "n_samples"),
        (dict(n_samples=10, seed=-1), "seed"),
        (dict(n_samples=10, seed=0, chunk_size=0), "chunk_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        montecarlo.estimate_mean(lambda b, g: torch.zeros(b), dev="cpu", **kwargs)


def test_sampler_returning_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="first dimension"):
        montecarlo.estimate_mean(lambda b, g: torch.zeros(b + 1), 10, seed=0, dev="cpu")


def test_kept_values_give_the_same_estimate_and_columns():
    sample = lambda b, g: torch.randn(b, 2, 3, generator=g, dtype=torch.float64)  # noqa: E731
    est = montecarlo.estimate_mean(sample, 300, seed=2, chunk_size=70, dev="cpu", keep_values=True)
    plain = montecarlo.estimate_mean(sample, 300, seed=2, chunk_size=70, dev="cpu")
    assert (
        np.array_equal(est.mean, plain.mean)
        and plain.values is None
        and est.values.shape == (300, 2, 3)
    )
    assert np.allclose(est.values.mean(0), est.mean, rtol=0, atol=1e-15)
    column = est[1, 2]
    assert column.mean == est.mean[1, 2] and np.array_equal(column.values, est.values[:, 1, 2])
    assert est[1].mean.shape == (3,) and est[1].values.shape == (300, 3)


def test_from_values_is_the_mean_and_standard_error_over_the_first_axis():
    values = torch.tensor([[1.0, 10.0], [2.0, 10.0], [4.0, 13.0]], dtype=torch.float32)
    est = Estimate.from_values(values, seed=3)
    assert np.allclose(est.mean, [7 / 3, 11.0]) and est.n_samples == 3 and est.seed == 3
    assert np.allclose(est.stderr, values.numpy().std(0, ddof=1) / np.sqrt(3))
    assert est.dtype == "float32" and est.device == "cpu" and est.values.dtype == np.float64
    scalar = Estimate.from_values(np.array([1.0, 3.0]))
    assert scalar.mean == 2.0 and scalar.stderr == 1.0 and str(scalar) == "2 ± 1"
    with pytest.raises(ValueError, match="at least 2"):
        Estimate.from_values(np.array([1.0]))


def test_one_sample_has_no_standard_error_and_is_refused():
    """One draw gives no estimate of the variance: estimate_mean refuses it (as from_values does)
    rather than report a standard error of 0."""
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        montecarlo.estimate_mean(
            lambda b, g: torch.randn(b, generator=g, dtype=torch.float64), 1, seed=0, dev="cpu"
        )


def test_tiny_and_huge_values_keep_their_standard_error():
    """Values of 1e-200 (their squares underflow float64) and of 1e307 (their sums and squares
    overflow): the standard error is sqrt(sum (v - mean)^2 / (n (n - 1))), not 0 or inf."""
    base = np.array([1.0, 3.0, 2.0, -1.0])
    exact = base.std(ddof=1) / 2
    for scale in (1e-200, 1e307):
        est = Estimate.from_values(base * scale)
        assert np.isclose(est.mean, base.mean() * scale, rtol=1e-14, atol=0)
        assert np.isclose(est.stderr, exact * scale, rtol=1e-14, atol=0)
        run = montecarlo.estimate_mean(
            lambda b, g, s=scale: torch.from_numpy(base * s)[:b], 4, seed=0, chunk_size=4, dev="cpu"
        )
        assert np.isclose(run.stderr, exact * scale, rtol=1e-14, atol=0), scale
