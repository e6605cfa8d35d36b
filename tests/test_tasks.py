import pytest
import torch

from icl import runtime, tasks
from icl.decoders.sparse_chains import support_codes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_dtypes_and_device(dtype):
    g = runtime.generator(0, "cpu")
    p = tasks.sample_prompts(7, 5, 3, sigma2=0.1, generator=g, device="cpu", dtype=dtype)
    assert p.X.shape == (7, 5, 3) and p.y.shape == (7, 5) and p.w.shape == (7, 3)
    assert p.x_query.shape == (7, 3) and p.y_query.shape == (7,)
    assert all(
        t.dtype == dtype and t.device.type == "cpu" for t in (p.X, p.y, p.w, p.x_query, p.y_query)
    )


def test_same_seed_same_draw_and_different_seed_different_draw():
    draw = lambda seed: tasks.sample_prompts(
        4, 6, 3, sigma2=0.5, generator=runtime.generator(seed, "cpu"), device="cpu"
    )
    a, b, c = draw(1), draw(1), draw(2)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y) and torch.equal(a.w, b.w)
    assert not torch.equal(a.X, c.X)


def test_labels_follow_the_linear_model_without_noise():
    p = tasks.sample_prompts(
        3, 8, 4, sigma2=0.0, generator=runtime.generator(0, "cpu"), device="cpu"
    )
    assert torch.allclose(p.y, torch.einsum("bnd,bd->bn", p.X, p.w))
    assert torch.allclose(p.y_query, (p.x_query * p.w).sum(1))


def test_noise_variance():
    p = tasks.sample_prompts(
        20000, 4, 2, sigma2=0.25, generator=runtime.generator(3, "cpu"), device="cpu"
    )
    resid = p.y - torch.einsum("bnd,bd->bn", p.X, p.w)
    var, se = resid.var().item(), 0.25 * (2 / resid.numel()) ** 0.5
    assert abs(var - 0.25) < 4 * se


@pytest.mark.parametrize(
    "prior,k,mean,second",
    [
        ("gaussian", None, 0.0, 4.0),  # psi = 2
        ("rademacher", None, 0.0, 1.0),
        ("sparse-binary", 3, 3 / 8, 3 / 8),
        ("sparse-gaussian", 3, 0.0, 3 / 8),
    ],
)
def test_prior_moments(prior, k, mean, second):
    w = tasks.sample_weights(
        40000,
        8,
        prior,
        psi=2.0 if prior == "gaussian" else None,
        k=k,
        generator=runtime.generator(5, "cpu"),
        device="cpu",
    )
    n = w.numel()
    assert abs(w.mean().item() - mean) <= 4 * w.std().item() / n**0.5
    assert (
        abs((w**2).mean().item() - second) <= 4 * (w**2).std().item() / n**0.5 + 1e-12
    )  # exact for rademacher


@pytest.mark.parametrize("prior", ["sparse-binary", "sparse-gaussian"])
def test_sparse_priors_have_exactly_k_nonzeros(prior):
    w = tasks.sample_weights(
        500, 10, prior, k=4, generator=runtime.generator(0, "cpu"), device="cpu"
    )
    assert torch.all((w != 0).sum(1) == 4)


def test_rademacher_values():
    w = tasks.sample_weights(
        100, 5, "rademacher", generator=runtime.generator(0, "cpu"), device="cpu"
    )
    assert set(w.unique().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(batch=0, n=3, d=2), "batch"),
        (dict(batch=2, n=0, d=2), "n must"),
        (dict(batch=2, n=3, d=0), "d must"),
        (dict(batch=2, n=3, d=2, sigma2=-1.0), "sigma2"),
        (dict(batch=2, n=3, d=2, prior="laplace"), "prior"),
        (dict(batch=2, n=3, d=2, prior="sparse-binary"), "needs k"),
        (dict(batch=2, n=3, d=2, prior="sparse-binary", k=3), "k must be <= d"),
        (dict(batch=2, n=3, d=2, prior="gaussian", k=1), "only used"),
        (dict(batch=2, n=3, d=2, psi=0.0), "psi"),
        (dict(batch=2.0, n=3, d=2), "batch"),
        (dict(batch=2, n=3, d=2, dtype=torch.int64), "dtype"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tasks.sample_prompts(**kwargs, device="cpu")


def test_sample_prompts_is_sample_weights_then_prompts_for_tasks():
    a = tasks.sample_prompts(
        16,
        7,
        5,
        prior="sparse-binary",
        k=2,
        sigma2=0.3,
        generator=runtime.generator(4, "cpu"),
        device="cpu",
    )
    gen = runtime.generator(4, "cpu")
    w = tasks.sample_weights(16, 5, "sparse-binary", k=2, generator=gen, device="cpu")
    b = tasks.sample_prompts_for_tasks(w, 7, sigma2=0.3, generator=gen)
    for name in ("X", "y", "w", "x_query", "y_query"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_prompts_for_a_fixed_task():
    w = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    p = tasks.sample_prompts_for_tasks(w.expand(8, -1), 5, generator=runtime.generator(0, "cpu"))
    assert p.X.shape == (8, 5, 4) and p.y.shape == (8, 5) and bool((p.w == w).all())
    assert torch.allclose(p.y, p.X[..., 0] + p.X[..., 3])


@pytest.mark.parametrize(
    "w,kwargs,match",
    [
        (torch.ones(3), {}, "w must"),
        (torch.ones(2, 3, dtype=torch.int64), {}, "w must"),
        (torch.ones(2, 3), {"sigma2": -1.0}, "sigma2"),
        (torch.ones(2, 3), {"n": 0}, "n must"),
    ],
)
def test_prompts_for_tasks_bad_input(w, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tasks.sample_prompts_for_tasks(w, kwargs.pop("n", 4), **kwargs)


def test_prototype_support_is_every_tenth_coordinate():
    w = tasks.prototype_support(50, 5)
    assert w.nonzero()[:, 0].tolist() == [0, 10, 20, 30, 40]
    assert support_codes(w).item() == 1 + 2**10 + 2**20 + 2**30 + 2**40
    assert tasks.prototype_support(12, 5).nonzero()[:, 0].tolist() == [0, 2, 4, 6, 8]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: tasks.prototype_support(4, 5), "k <= d"),
        (lambda: tasks.prototype_support(0, 1), "d must"),
    ],
)
def test_prototype_support_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda g: tasks.sample_weights(2**64, 2, generator=g), r"batch must be an integer <= "),
        (lambda g: tasks.sample_weights(10**6, 10**6, generator=g), r"batch \* d"),
        (
            lambda g: tasks.sample_prompts(10**5, 10**4, 10, generator=g),
            r"batch \* \(n \+ 1\) \* d",
        ),
        (lambda g: tasks.prototype_support(2**64, 2), r"d must be an integer <= "),
        (lambda g: tasks.prototype_support(2**40, 2), r"d must be an integer <= "),
    ],
)
def test_sizes_beyond_memory_are_refused_naming_the_size(call, match):
    """A size whose tensor would not fit (more than 2^27 entries, 1 GiB in float64) or would
    overflow torch's int64 is refused with a ValueError naming it, before anything is allocated."""
    with pytest.raises(ValueError, match=match):
        call(runtime.generator(0, "cpu"))
