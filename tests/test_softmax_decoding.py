import pytest
import torch

from icl import answer_distribution as ad
from icl import softmax_decoding as sd, tasks
from icl.models import softmax_transformer as st
from icl.harness import runtime

TINY = st.DecoderConfig(d=3, n=6, sigma2=1.0, width=16, layers=2, heads=2)


@pytest.fixture(scope="module")
def model():
    m = st.CoefficientDecoder(TINY, seed=4)
    with torch.no_grad():
        m.head.weight.mul_(20)  # make the margins large enough that the answer distribution is far from uniform
    return m.eval()


def _prompts(batch=3, seed=0):
    return tasks.sample_prompts(batch, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2,
                                generator=runtime.generator(seed, "cpu"), device="cpu", dtype=torch.float32)


def test_enumerated_margins_match_teacher_forcing(model):
    p = _prompts()
    margins = sd.enumerate_margins(model, p.X, p.y)
    v = ad.sign_vectors(TINY.d)
    assert margins.shape == (3, 8, 3) and margins.dtype == torch.float64
    for s in range(8):
        with torch.no_grad():
            logits = model(p.X, p.y, v[s].float().expand(3, -1))
        assert torch.allclose(margins[:, s], (logits[..., 0] - logits[..., 1]).double(), atol=1e-5)


def test_log_probs_at_is_normalised_and_checks_input(model):
    p = _prompts()
    margins = sd.enumerate_margins(model, p.X, p.y)
    for temperature in (0.3, 1.0, 4.0):
        lp = sd.log_probs_at(margins, temperature)
        assert torch.allclose(lp.exp().sum(1), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="temperature"):
        sd.log_probs_at(margins, 0.0)
    with pytest.raises(ValueError, match="margins"):
        sd.log_probs_at(margins[:, :5], 1.0)


def test_sampling_matches_the_enumerated_distribution(model):
    p = _prompts(batch=2)
    n_samples, temperature = 20000, 1.5
    samples, probs = sd.sample_coefficients(model, p.X, p.y, n_samples, temperature, runtime.generator(0, "cpu"))
    assert samples.shape == probs.shape == (2, n_samples, 3)
    exact = sd.log_probs_at(sd.enumerate_margins(model, p.X, p.y), temperature).exp()
    counts = torch.nn.functional.one_hot(ad.index_of(samples), 8).double().mean(1)
    se = (exact * (1 - exact) / n_samples).sqrt()
    assert ((counts - exact).abs() <= 4.5 * se + 1e-12).all()
    # the recorded probabilities are sigmoid(m_j / T) along each sample's own path
    margins = sd.enumerate_margins(model, p.X, p.y)
    along = margins[torch.arange(2).unsqueeze(1), ad.index_of(samples)]
    assert torch.allclose(probs, torch.sigmoid(along / temperature), atol=1e-5)


def test_sampling_is_seeded_and_zero_temperature_is_greedy(model):
    p = _prompts()
    first = sd.sample_coefficients(model, p.X, p.y, 50, 1.0, runtime.generator(7, "cpu"))[0]
    again = sd.sample_coefficients(model, p.X, p.y, 50, 1.0, runtime.generator(7, "cpu"))[0]
    assert torch.equal(first, again)
    greedy = sd.greedy_coefficients(model, p.X, p.y)
    margins = sd.enumerate_margins(model, p.X, p.y)
    expected = torch.empty(3, 3, dtype=torch.float64)
    for b in range(3):
        index = 0
        for j in range(3):
            sign = 1.0 if margins[b, index * 2 ** (3 - j), j] >= 0 else -1.0
            expected[b, j] = sign
            index = 2 * index + (sign < 0)
    assert torch.equal(greedy, expected)
    cold = sd.sample_coefficients(model, p.X, p.y, 5, 1e-4, runtime.generator(1, "cpu"))[0]
    assert torch.equal(cold, greedy.unsqueeze(1).expand(-1, 5, -1))
    with pytest.raises(ValueError, match="n_samples"):
        sd.sample_coefficients(model, p.X, p.y, 0, 1.0, runtime.generator(1, "cpu"))
    with pytest.raises(ValueError, match="temperature"):
        sd.sample_coefficients(model, p.X, p.y, 2, -1.0, runtime.generator(1, "cpu"))
    with pytest.raises(ValueError, match="model"):
        sd.enumerate_margins(torch.nn.Linear(2, 2), p.X, p.y)


def test_majority_vote_and_fair_ties():
    samples = torch.tensor([[[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]]])
    assert torch.equal(sd.majority_vote(samples, torch.Generator().manual_seed(0)), torch.tensor([[1.0, -1.0]]))
    tie = torch.tensor([[[1.0], [-1.0]]]).expand(4000, -1, -1)
    outcome = sd.majority_vote(tie, torch.Generator().manual_seed(0))
    assert abs(outcome.mean().item()) < 4 / 4000**0.5
    with pytest.raises(ValueError, match="samples"):
        sd.majority_vote(samples[0], torch.Generator())


def test_vector_vote_mode_and_uniform_ties():
    a, b, c = [1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]
    samples = torch.tensor([[a, b, b, c, a, b]])
    assert torch.equal(sd.vector_vote(samples, torch.Generator().manual_seed(0)), torch.tensor([b]))
    tie = torch.tensor([[a, b, c, b, a, c]]).expand(6000, -1, -1)  # three answers, twice each
    winners = ad.index_of(sd.vector_vote(tie, torch.Generator().manual_seed(1)))
    frequencies = torch.bincount(winners, minlength=4).double() / 6000
    se = (1 / 3 * 2 / 3 / 6000) ** 0.5
    for answer in (a, b, c):
        assert abs(frequencies[ad.index_of(torch.tensor(answer))] - 1 / 3) < 4 * se
    with pytest.raises(ValueError, match="samples"):
        sd.vector_vote(samples[0], torch.Generator())


def test_best_of_n_picks_the_largest_reward():
    samples = torch.tensor([[[1.0], [-1.0], [1.0]], [[-1.0], [1.0], [1.0]]])
    reward = torch.tensor([[0.1, 0.5, 0.2], [0.9, 0.0, 0.3]])
    assert torch.equal(sd.best_of_n(samples, reward), torch.tensor([[-1.0], [-1.0]]))
    with pytest.raises(ValueError, match="reward"):
        sd.best_of_n(samples, reward[:, :2])
