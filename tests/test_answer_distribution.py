import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from icl import answer_distribution as ad
from icl import tasks, theory
from icl.harness import runtime
from icl.rewards import in_context_loss


def _prompts(batch=5, n=6, d=3, sigma2=1.0, seed=0):
    return tasks.sample_prompts(batch, n, d, prior="rademacher", sigma2=sigma2,
                                generator=runtime.generator(seed, "cpu"), device="cpu", dtype=torch.float64)


def _random_log_probs(batch, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(batch, 2**d, generator=g, dtype=torch.float64), dim=1)


def test_sign_vectors_order_and_index():
    v = ad.sign_vectors(3)
    assert v.shape == (8, 3)
    assert torch.equal(v[0], torch.ones(3)) and torch.equal(v[-1], -torch.ones(3))
    assert torch.equal(v[1], torch.tensor([1.0, 1.0, -1.0]))  # last coefficient is the least significant bit
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


def test_rademacher_posterior_is_normalised_bayes():
    p = _prompts(sigma2=2.0)
    lp = ad.rademacher_log_posterior(p.X, p.y, 2.0)
    assert torch.allclose(lp.exp().sum(1), torch.ones(5, dtype=torch.float64))
    v = ad.sign_vectors(3, dtype=torch.float64)
    b = 3
    log_lik = np.array([stats.norm.logpdf(p.y[b].numpy(), p.X[b].numpy() @ row.numpy(), math.sqrt(2.0)).sum() for row in v])
    expected = log_lik - np.logaddexp.reduce(log_lik)
    assert np.allclose(lp[b].numpy(), expected, atol=1e-10)
    with pytest.raises(ValueError, match="sigma2"):
        ad.rademacher_log_posterior(p.X, p.y, 0.0)


def test_linear_decoder_has_sigmoid_marginals():
    p = _prompts()
    w_hat = ad.linear_estimate(p.X, p.y, 0.7)
    assert torch.allclose(w_hat, 0.7 * torch.einsum("bnd,bn->bd", p.X, p.y) / 6)
    lp = ad.linear_log_probs(p.X, p.y, 0.7, 1.5)
    assert torch.allclose(lp.exp().sum(1), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(ad.marginals(lp), torch.sigmoid(2 * w_hat / 1.5))
    with pytest.raises(ValueError, match="eta"):
        ad.linear_estimate(p.X, p.y, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        ad.linear_log_probs(p.X, p.y, 1.0, -1.0)


def test_marginals_probability_and_mode_brute_force():
    lp = _random_log_probs(4, 3)
    v = ad.sign_vectors(3, dtype=torch.float64)
    probs = lp.exp()
    for b in range(4):
        for j in range(3):
            assert math.isclose(ad.marginals(lp)[b, j].item(), probs[b][v[:, j] > 0].sum().item(), rel_tol=1e-12)
    w = v[torch.tensor([0, 5, 7, 2])]
    assert torch.allclose(ad.probability_of(lp, w), probs[torch.arange(4), torch.tensor([0, 5, 7, 2])])
    assert torch.equal(ad.mode(lp), v[probs.argmax(1)])
    with pytest.raises(ValueError, match="log_probs"):
        ad.marginals(torch.zeros(4, 6))
    with pytest.raises(ValueError, match="w"):
        ad.probability_of(lp, torch.ones(4, 2))


def test_pass_at_k():
    p = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    assert torch.allclose(ad.pass_at_k(p, 1), p)
    assert torch.allclose(ad.pass_at_k(p, 3), 1 - (1 - p) ** 3)
    with pytest.raises(ValueError, match="k"):
        ad.pass_at_k(p, 0)
    with pytest.raises(ValueError, match="p"):
        ad.pass_at_k(torch.tensor([-0.1]), 2)


def test_best_of_n_accuracy_brute_force():
    d, n_samples = 2, 3
    lp = _random_log_probs(3, d, seed=1)
    reward = torch.randn(3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    target = ad.sign_vectors(d, dtype=torch.float64)[torch.tensor([1, 3, 0])]
    probs = lp.exp().numpy()
    for b in range(3):
        t = int(ad.index_of(target[b]))
        total = sum(np.prod(probs[b][list(draw)]) for draw in itertools.product(range(4), repeat=n_samples)
                    if max(draw, key=lambda s: reward[b, s].item()) == t)
        assert math.isclose(ad.best_of_n_accuracy(lp, reward, target, n_samples)[b].item(), total, rel_tol=1e-10)
    assert torch.allclose(ad.best_of_n_accuracy(lp, reward, target, 1), ad.probability_of(lp, target))
    with pytest.raises(ValueError, match="reward"):
        ad.best_of_n_accuracy(lp, reward[:, :2], target, 2)
    with pytest.raises(ValueError, match="target"):
        ad.best_of_n_accuracy(lp, reward, target[:, :1], 2)
    with pytest.raises(ValueError, match="n_samples"):
        ad.best_of_n_accuracy(lp, reward, target, 0)


def test_best_of_n_with_a_loss_uses_its_survival_functions():
    """Keeping the smallest loss L = -reward returns w w.p. P(L >= L(w))^N - P(L > L(w))^N, not F(L(w))^N - F^-(L(w))^N."""
    d, n_samples = 3, 4
    p = _prompts(batch=6, n=5, d=d, seed=3)
    lp = _random_log_probs(6, d, seed=4)
    loss = in_context_loss(ad.sign_vectors(d).expand(6, -1, -1), p.X, p.y)
    probs, at_w = lp.exp(), loss.gather(1, ad.index_of(p.w).unsqueeze(1))
    survival, strictly_above = (probs * (loss >= at_w)).sum(1), (probs * (loss > at_w)).sum(1)
    kept = ad.best_of_n_accuracy(lp, -loss, p.w, n_samples)
    assert torch.allclose(kept, survival**n_samples - strictly_above**n_samples, atol=1e-14)
    cdf, strictly_below = (probs * (loss <= at_w)).sum(1), (probs * (loss < at_w)).sum(1)
    assert not torch.allclose(kept, cdf**n_samples - strictly_below**n_samples, atol=1e-3)  # the loss maximised


def test_votes_needed_normal_approximation():
    delta, target = 0.05, 0.9
    n_star = ad.votes_needed(delta, target)
    assert math.isclose(n_star, (stats.norm.ppf(target) / (2 * delta)) ** 2, rel_tol=1e-10)
    exact = theory.majority_vote_accuracy(torch.tensor([0.5 + delta], dtype=torch.float64), round(n_star)).item()
    assert abs(exact - target) < 0.01
    with pytest.raises(ValueError, match="delta"):
        ad.votes_needed(0.0, 0.9)
    with pytest.raises(ValueError, match="target"):
        ad.votes_needed(0.1, 0.5)
    with pytest.raises(ValueError):
        ad.votes_needed(0.6, 0.9)


def test_vector_vote_accuracy_3_brute_force():
    d = 2
    lp = _random_log_probs(3, d, seed=5)
    target = ad.sign_vectors(d, dtype=torch.float64)[torch.tensor([0, 2, 3])]
    probs = lp.exp().numpy()
    for b in range(3):
        t = int(ad.index_of(target[b]))
        total = 0.0
        for draw in itertools.product(range(4), repeat=3):
            counts = {s: draw.count(s) for s in draw}
            top = max(counts.values())
            winners = [s for s, c in counts.items() if c == top]
            total += np.prod(probs[b][list(draw)]) * (t in winners) / len(winners)
        assert math.isclose(ad.vector_vote_accuracy_3(lp, target)[b].item(), total, rel_tol=1e-10)
    with pytest.raises(ValueError, match="w"):
        ad.vector_vote_accuracy_3(lp, target[:, :1])
