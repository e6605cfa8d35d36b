import math

import numpy as np
import pytest
import torch
from scipy import stats

from icl.decoders import answer_distribution as ad


def test_sign_vectors_order_and_index():
    v = ad.sign_vectors(3)
    assert v.shape == (8, 3)
    assert torch.equal(v[0], torch.ones(3)) and torch.equal(v[-1], -torch.ones(3))
    assert torch.equal(
        v[1], torch.tensor([1.0, 1.0, -1.0])
    )  # last coefficient is the least significant bit
    assert len({tuple(r.tolist()) for r in v}) == 8
    assert torch.equal(ad.index_of(v), torch.arange(8))
    assert torch.equal(ad.index_of(v.reshape(2, 4, 3)), torch.arange(8).reshape(2, 4))


def test_sign_vectors_and_index_errors():
    with pytest.raises(ValueError, match="d"):
        ad.sign_vectors(0)
    with pytest.raises(ValueError, match="d"):
        ad.sign_vectors(ad.MAX_ENUMERATED_D + 1)
    with pytest.raises(ValueError, match="v"):
        ad.index_of(torch.tensor(1.0))


def test_rademacher_posterior_is_normalised_bayes(draw_prompts):
    p = draw_prompts(5, 6, 3, sigma2=2.0, prior="rademacher")
    lp = ad.rademacher_log_posterior(p.X, p.y, 2.0)
    assert torch.allclose(lp.exp().sum(1), torch.ones(5, dtype=torch.float64))
    v = ad.sign_vectors(3, dtype=torch.float64)
    b = 3
    log_lik = np.array(
        [
            stats.norm.logpdf(p.y[b].numpy(), p.X[b].numpy() @ row.numpy(), math.sqrt(2.0)).sum()
            for row in v
        ]
    )
    expected = log_lik - np.logaddexp.reduce(log_lik)
    assert np.allclose(lp[b].numpy(), expected, atol=1e-10)
    with pytest.raises(ValueError, match="sigma2"):
        ad.rademacher_log_posterior(p.X, p.y, 0.0)


def test_linear_decoder_has_sigmoid_marginals(draw_prompts):
    p = draw_prompts(5, 6, 3, sigma2=1.0, prior="rademacher")
    w_hat = ad.linear_estimate(p.X, p.y, 0.7)
    assert torch.allclose(w_hat, 0.7 * torch.einsum("bnd,bn->bd", p.X, p.y) / 6)
    lp = ad.linear_log_probs(p.X, p.y, 0.7, 1.5)
    assert torch.allclose(lp.exp().sum(1), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(ad.marginals(lp), torch.sigmoid(2 * w_hat / 1.5))
    with pytest.raises(ValueError, match="eta"):
        ad.linear_estimate(p.X, p.y, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        ad.linear_log_probs(p.X, p.y, 1.0, -1.0)


def test_marginals_probability_and_mode_brute_force(random_log_probs):
    lp = random_log_probs(4, 3)
    v = ad.sign_vectors(3, dtype=torch.float64)
    probs = lp.exp()
    for b in range(4):
        for j in range(3):
            assert math.isclose(
                ad.marginals(lp)[b, j].item(), probs[b][v[:, j] > 0].sum().item(), rel_tol=1e-12
            )
    w = v[torch.tensor([0, 5, 7, 2])]
    assert torch.allclose(
        ad.probability_of(lp, w), probs[torch.arange(4), torch.tensor([0, 5, 7, 2])]
    )
    assert torch.equal(ad.mode(lp), v[probs.argmax(1)])
    with pytest.raises(ValueError, match="log_probs"):
        ad.marginals(torch.zeros(4, 6))
    with pytest.raises(ValueError, match="w"):
        ad.probability_of(lp, torch.ones(4, 2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_tiny_noise_variance_concentrates_the_posterior_without_nan(dtype):
    """sigma2 = 1e-300 (below float32's range): the posterior puts all its mass on the vector of
    least residual, log P = 0 there and -inf elsewhere (each exact log P < -1e298: -inf in float32,
    finite in float64), never NaN from 0 / 0 or inf - inf."""
    X = torch.tensor([[[1.0, 0.5], [0.3, -1.0]]], dtype=dtype)
    y = torch.tensor([[1.2, -0.4]], dtype=dtype)
    lp = ad.rademacher_log_posterior(X, y, 1e-300)
    assert not bool(lp.isnan().any())
    best = int(((ad.sign_vectors(2, dtype=dtype) @ X[0].T - y[0]) ** 2).sum(1).argmin())
    assert lp[0, best] == 0.0 and bool((lp[0, torch.arange(4) != best].double() < -1e298).all())


def test_linear_log_probs_at_a_temperature_below_float32(draw_prompts):
    """T = 1e-60 with float32 prompts: w_hat_j = 0 gives log(1/2) per coefficient (not 0 / 0),
    and the signs of w_hat decide the rest."""
    p = draw_prompts(2, 6, 3, sigma2=1.0, prior="rademacher", dtype=torch.float32)
    X = p.X.clone()
    X[:, :, 0] = 0.0  # w_hat_0 = 0 exactly
    lp = ad.linear_log_probs(X, p.y, 1.0, 1e-60)
    assert not bool(lp.isnan().any())
    assert torch.allclose(lp.exp().sum(1), torch.ones(2)) and torch.allclose(
        lp.max(1).values, torch.full((2,), math.log(0.5))
    )
