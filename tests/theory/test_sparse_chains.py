import itertools
from fractions import Fraction

import pytest
import torch

from icl import theory


def test_draw_set_probability_sums_to_one_over_all_sets():
    weights = torch.tensor([0.1, 0.5, 0.2, 0.15, 0.05], dtype=torch.float64)
    sets = torch.tensor(list(itertools.combinations(range(5), 3)))
    total = theory.draw_set_probability(weights.expand(len(sets), -1), sets).sum().item()
    assert total == pytest.approx(1.0)
    # order of the support does not matter
    assert theory.draw_set_probability(
        weights[None], torch.tensor([[0, 2, 4]])
    ).item() == pytest.approx(
        theory.draw_set_probability(weights[None], torch.tensor([[4, 0, 2]])).item()
    )


def test_draw_set_probability_is_scale_free_and_exact_at_the_extremes():
    """The issue's cases: weights [1e20, 1, 1] with support {0, 1} gave inf (exact 1/2), a zero
    weight in the support gave NaN (exact 0), float32 weights [1e6, 1, 1] were 1.3 % off."""
    support = torch.tensor([[0, 1]])
    big = theory.draw_set_probability(
        torch.tensor([[1e20, 1.0, 1.0]], dtype=torch.float64), support
    )
    assert big.item() == pytest.approx(0.5, rel=1e-14)
    zero = theory.draw_set_probability(
        torch.tensor([[1e20, 0.0, 1.0]], dtype=torch.float64), support
    )
    assert zero.item() == 0.0
    single = theory.draw_set_probability(torch.tensor([[1e6, 1.0, 1.0]]), support)
    # the two orders: 1e6 / W * 1 / 2 + 1 / W * 1e6 / (W - 1), W = 1e6 + 2
    W = Fraction(10**6 + 2)
    exact = float(Fraction(10**6) / W / 2 + 1 / W * Fraction(10**6) / (W - 1))
    assert single.dtype == torch.float32 and single.item() == pytest.approx(exact, rel=1e-7)
    # the scale of the weights does not enter, down to subnormal ones and up to 1e300
    w = torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=torch.float64)
    for scale in (1e-300, 1e-10, 1e300):
        assert theory.draw_set_probability(w * scale, support).item() == pytest.approx(
            theory.draw_set_probability(w, support).item(), rel=1e-14
        )
    # fewer than k positive weights: the k draws do not exist
    with pytest.raises(ValueError, match="at least k positive"):
        theory.draw_set_probability(torch.tensor([[1.0, 0.0, 0.0]]), support)


def test_draw_set_probability_up_to_sixteen_indices():
    """k = 9..16 (2^k k per set, not k! k): the probabilities of all sets sum to 1, and a set of
    the largest weights is the likeliest."""
    weights = torch.linspace(1.0, 3.0, 12, dtype=torch.float64)
    sets = torch.tensor(list(itertools.combinations(range(12), 10)))
    total = theory.draw_set_probability(weights.expand(len(sets), -1), sets).sum().item()
    assert total == pytest.approx(1.0, rel=1e-13)
    one = theory.draw_set_probability(
        torch.ones(1, 17, dtype=torch.float64), torch.arange(16)[None]
    )
    assert one.item() == pytest.approx(1 / 17, rel=1e-13)  # the set left out is uniform


def test_step_weights_shapes_and_formula(draw_prompts):
    p = draw_prompts(4, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    w = p.w[:, None].expand(-1, 3, -1)
    out = theory.step_weights(p.X, p.y, w, eta=0.5)
    assert out.shape == (4, 3, 12)
    direct = (
        p.w - 0.5 * torch.einsum("bnd,bn->bd", p.X, torch.einsum("bnd,bd->bn", p.X, p.w) - p.y) / 30
    ).clamp_min(1e-10)
    assert torch.allclose(out[:, 1], direct)


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda p: theory.draw_set_probability(torch.ones(2, 4), torch.tensor([[0, 0], [1, 2]])),
            "distinct",
        ),
        (
            lambda p: theory.draw_set_probability(torch.ones(2, 4), torch.tensor([[0, 4], [1, 2]])),
            "indices in",
        ),
        (
            lambda p: theory.draw_set_probability(torch.ones(2, 4), torch.tensor([[0, 1]])),
            "expected weights",
        ),
        (
            lambda p: theory.draw_set_probability(-torch.ones(1, 4), torch.tensor([[0, 1]])),
            "non-negative",
        ),
        (lambda p: theory.draw_set_probability(torch.ones(1, 20), torch.arange(17)[None]), "k <="),
        (lambda p: theory.step_weights(p.X, p.y, p.w, eta=-1.0), "eta"),
        (lambda p: theory.step_weights(p.X, p.y, p.w[:, :5], eta=1.0), "expected X"),
    ],
)
def test_bad_input_raises_value_error(call, match, draw_prompts):
    p = draw_prompts(2, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    with pytest.raises(ValueError, match=match):
        call(p)
