"""The figure of Chapter 6, drawn from small synthetic inputs."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from icl import sparse_vote  # noqa: E402
from icl.experiments import ch06 as ex  # noqa: E402
from icl.figures import ch06 as figures  # noqa: E402


def test_votes_and_ties_draws_three_panels_with_sums_points_and_the_prototype():
    codes = torch.tensor([[1, 1, 2, 3], [4, 5, 5, 6], [7, 8, 9, 9]])
    truth = torch.tensor([1, 5, 0])
    answers = ex.answers(codes, truth)
    sums = ex.vote_sums(answers, codes, truth, [1, 2, 3], 3)
    ties = ex.tie_sums(SimpleNamespace(codes=codes, truth=truth), [1, 2], 3)
    simulated = {N: (0.3, 0.01) for N in (1, 2, 3)}
    results = {f"{p} protocol": {N: (0.2, 0.05) for N in (2, 3)} for p in ("book", "prototype")}
    fig = figures.votes_and_ties(
        sums, simulated, simulated, results, ties, sparse_vote.SparseVoteSettings(), (0.27, 0.005)
    )
    left, middle, right, colorbar = fig.axes
    assert left.get_xlabel() == "number of votes $N$" == middle.get_xlabel()
    assert left.get_ylabel() == "exact-recovery accuracy"
    assert len(left.containers) == 4 and len(left.get_legend().get_texts()) == 9
    assert "authors' prototype" in [t.get_text() for t in left.get_legend().get_texts()]
    assert len(middle.containers) == 3 and len(middle.get_legend().get_texts()) == 4
    assert len(right.collections) == 1 and right.get_ylabel() == "largest wrong answer $p_2$"
    assert colorbar.get_ylabel() == "P(vote right)"
    plt.close(fig)
