import pytest
import torch

from icl import runtime
from icl.decoders import answer_distribution as ad
from icl.decoders import coefficient_sampler as sampler
from icl.models import softmax_transformer as st

TINY = st.DecoderConfig(d=3, n=6, sigma2=1.0, width=16, layers=2, heads=2)


@pytest.fixture(scope="module")
def model():
    m = st.CoefficientDecoder(TINY, seed=4)
    with torch.no_grad():
        m.head.weight.mul_(
            20
        )  # make the margins large enough that the answer distribution is far from uniform
    return m.eval()


def test_enumerated_margins_match_teacher_forcing(model, draw_prompts):
    p = draw_prompts(3, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    margins = sampler.enumerate_margins(model, p.X, p.y)
    v = ad.sign_vectors(TINY.d)
    assert margins.shape == (3, 8, 3) and margins.dtype == torch.float64
    for s in range(8):
        with torch.no_grad():
            logits = model(p.X, p.y, v[s].float().expand(3, -1))
        assert torch.allclose(margins[:, s], (logits[..., 0] - logits[..., 1]).double(), atol=1e-5)


def test_log_probs_at_is_normalised_and_checks_input(model, draw_prompts):
    p = draw_prompts(3, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    margins = sampler.enumerate_margins(model, p.X, p.y)
    for temperature in (0.3, 1.0, 4.0):
        lp = sampler.log_probs_at(margins, temperature)
        assert torch.allclose(lp.exp().sum(1), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="temperature"):
        sampler.log_probs_at(margins, 0.0)
    with pytest.raises(ValueError, match="margins"):
        sampler.log_probs_at(margins[:, :5], 1.0)


def test_sampling_matches_the_enumerated_distribution(model, draw_prompts):
    p = draw_prompts(2, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    n_samples, temperature = 20000, 1.5
    samples, probs = sampler.sample_coefficients(
        model, p.X, p.y, n_samples, temperature, runtime.generator(0, "cpu")
    )
    assert samples.shape == probs.shape == (2, n_samples, 3)
    exact = sampler.log_probs_at(sampler.enumerate_margins(model, p.X, p.y), temperature).exp()
    counts = torch.nn.functional.one_hot(ad.index_of(samples), 8).double().mean(1)
    se = (exact * (1 - exact) / n_samples).sqrt()
    assert ((counts - exact).abs() <= 4.5 * se + 1e-12).all()
    # the recorded probabilities are sigmoid(m_j / T) along each sample's own path
    margins = sampler.enumerate_margins(model, p.X, p.y)
    along = margins[torch.arange(2).unsqueeze(1), ad.index_of(samples)]
    assert torch.allclose(probs, torch.sigmoid(along / temperature), atol=1e-5)


def test_sampling_is_seeded_and_zero_temperature_is_greedy(model, draw_prompts):
    p = draw_prompts(3, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    first = sampler.sample_coefficients(model, p.X, p.y, 50, 1.0, runtime.generator(7, "cpu"))[0]
    again = sampler.sample_coefficients(model, p.X, p.y, 50, 1.0, runtime.generator(7, "cpu"))[0]
    assert torch.equal(first, again)
    greedy = sampler.greedy_coefficients(model, p.X, p.y)
    margins = sampler.enumerate_margins(model, p.X, p.y)
    expected = torch.empty(3, 3, dtype=torch.float64)
    for b in range(3):
        index = 0
        for j in range(3):
            sign = 1.0 if margins[b, index * 2 ** (3 - j), j] >= 0 else -1.0
            expected[b, j] = sign
            index = 2 * index + (sign < 0)
    assert torch.equal(greedy, expected)
    cold = sampler.sample_coefficients(model, p.X, p.y, 5, 1e-4, runtime.generator(1, "cpu"))[0]
    assert torch.equal(cold, greedy.unsqueeze(1).expand(-1, 5, -1))
    with pytest.raises(ValueError, match="n_samples"):
        sampler.sample_coefficients(model, p.X, p.y, 0, 1.0, runtime.generator(1, "cpu"))
    with pytest.raises(ValueError, match="temperature"):
        sampler.sample_coefficients(model, p.X, p.y, 2, -1.0, runtime.generator(1, "cpu"))
    with pytest.raises(TypeError, match="model"):
        sampler.enumerate_margins(torch.nn.Linear(2, 2), p.X, p.y)


@pytest.mark.parametrize("temperature", [1e-300, 1e-310, 5e-324])
def test_a_tiny_temperature_samples_the_greedy_answer(model, draw_prompts, temperature):
    """As T -> 0, sigmoid(m / T) -> 1{m > 0}: a tiny (even subnormal) temperature draws the greedy
    answer with probability 1 wherever the margin is not 0, and records probabilities 0 or 1 (no
    NaN from logits / T overflowing)."""
    p = draw_prompts(8, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    greedy = sampler.greedy_coefficients(model, p.X, p.y)
    flipped = st.CoefficientDecoder(TINY, seed=4).eval()
    with torch.no_grad():
        flipped.head.weight.copy_(-model.head.weight)
        flipped.head.bias.copy_(-model.head.bias)
    for decoder, best in (
        (model, greedy),
        (flipped, sampler.greedy_coefficients(flipped, p.X, p.y)),
    ):
        samples, probs = sampler.sample_coefficients(
            decoder, p.X, p.y, 6, temperature, runtime.generator(3, "cpu")
        )
        assert torch.equal(samples, best.unsqueeze(1).expand(-1, 6, -1))
        assert torch.equal(probs, (samples > 0).double())
    assert bool((greedy > 0).any()) or bool(
        (sampler.greedy_coefficients(flipped, p.X, p.y) > 0).any()
    )


def test_log_probs_at_a_temperature_below_float32():
    """Float32 margins at T = 1e-60 (0 in float32): a zero margin gives log(1/2), not 0 / 0."""
    margins = torch.tensor([[[0.0, 2.0], [0.0, 2.0], [0.0, -1.0], [0.0, -1.0]]])
    lp = sampler.log_probs_at(margins, 1e-60)
    assert not bool(lp.isnan().any()) and lp.dtype == torch.float32
    assert torch.allclose(lp.exp().sum(1), torch.ones(1))


def test_chunks_of_prompts_give_the_same_draws_and_margins(model, draw_prompts, monkeypatch):
    """The prompts pass through the network in chunks that bound memory; the uniforms are drawn
    before, so chunks of one prompt give the draws of one pass."""
    p = draw_prompts(5, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    whole = sampler.sample_coefficients(model, p.X, p.y, 40, 1.3, runtime.generator(8, "cpu"))
    margins = sampler.enumerate_margins(model, p.X, p.y)
    c = TINY
    per_sequence = c.width * (2 * c.d * c.layers + 4) + c.heads * c.n
    monkeypatch.setattr(sampler, "MAX_ENTRIES", 40 * per_sequence)  # one prompt a chunk
    parts = sampler.sample_coefficients(model, p.X, p.y, 40, 1.3, runtime.generator(8, "cpu"))
    assert torch.equal(parts[0], whole[0])
    assert torch.allclose(parts[1], whole[1], rtol=1e-5, atol=1e-12)  # float32 logits
    monkeypatch.setattr(sampler, "MAX_ENTRIES", 2**c.d * per_sequence)
    assert torch.allclose(sampler.enumerate_margins(model, p.X, p.y), margins, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"n_samples \* \(width"):
        sampler.sample_coefficients(model, p.X, p.y, 10**6, 1.3, runtime.generator(8, "cpu"))
