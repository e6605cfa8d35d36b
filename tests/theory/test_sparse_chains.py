import itertools

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
        (lambda p: theory.draw_set_probability(torch.ones(1, 12), torch.arange(9)[None]), "k <="),
        (lambda p: theory.step_weights(p.X, p.y, p.w, eta=-1.0), "eta"),
        (lambda p: theory.step_weights(p.X, p.y, p.w[:, :5], eta=1.0), "expected X"),
    ],
)
def test_bad_input_raises_value_error(call, match, draw_prompts):
    p = draw_prompts(2, 30, 12, prior="sparse-binary", k=3, sigma2=0.0001)
    with pytest.raises(ValueError, match=match):
        call(p)
