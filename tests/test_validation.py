import math

import numpy as np
import pytest
import torch

from icl import validation


def test_integer_and_real_return_the_value_or_name_the_argument():
    assert validation.integer("n", np.int64(3)) == 3 and validation.integer("k", 0, minimum=0) == 0
    assert validation.real("eta", 1) == 1.0 and validation.real("tau", 0.5, minimum=0.5) == 0.5
    for bad in (0, 2.0, True, "3"):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            validation.integer("n", bad)
    for bad in (math.nan, math.inf, "x", True):
        with pytest.raises(ValueError, match="eta must be a finite number"):
            validation.real("eta", bad)
    with pytest.raises(ValueError, match="tau must be > 0"):
        validation.real("tau", 0.0, minimum=0.0, strict=True)


def test_prompt_batch_and_design_shapes():
    X, y = torch.zeros(4, 5, 3), torch.zeros(4, 5)
    assert validation.prompt_batch(X, y) == (4, 5, 3)
    assert validation.design(X, y) == (5, 3) and validation.design(X[0], y[0]) == (5, 3)
    assert validation.design(torch.zeros(2, 4, 5, 3), torch.zeros(2, 4, 5)) == (5, 3)
    with pytest.raises(ValueError, match=r"expected X \(B, n, d\) and y \(B, n\)"):
        validation.prompt_batch(X[0], y[0])
    with pytest.raises(ValueError, match=r"expected X \(\.\.\., n, d\) and y \(\.\.\., n\)"):
        validation.design(X, y[:, :4])
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        validation.design(X.numpy(), y)


def test_tensor_checks_refuse_wrong_types_dtypes_and_values():
    x = torch.zeros(2, 3)
    assert validation.tensor("x", x, shape=(2, None)) is x
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        validation.tensor("x", x.numpy())
    for bad in (x.long(), x.to(torch.complex64), x.bool()):
        with pytest.raises(TypeError, match="x must have a float32 or float64 dtype"):
            validation.tensor("x", bad)
    with pytest.raises(ValueError, match="finite"):
        validation.tensor("x", torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="must not be empty"):
        validation.tensor("x", x[:0])
    with pytest.raises(ValueError, match=r"x must have shape \(2, 4\)"):
        validation.tensor("x", x, shape=(2, 4))
    with pytest.raises(TypeError, match="share one dtype"):
        validation.same_dtype(X=x, y=x.float().double())
    with pytest.raises(ValueError, match="n >= 1 examples"):
        validation.prompt_batch(torch.zeros(4, 0, 3), torch.zeros(4, 0))


def test_probabilities_accept_float32_softmax_and_refuse_unnormalised():
    p = torch.softmax(torch.randn(5, 1024, generator=torch.Generator().manual_seed(0)), dim=-1)
    validation.probabilities("p", p)
    validation.probabilities("p", p[0].numpy())  # float32 tolerance kept for arrays
    with pytest.raises(ValueError, match="sum to 1"):
        validation.probabilities("p", p.double() * 1.001)
    with pytest.raises(ValueError, match=r"in \[0, 1\]|finite"):
        validation.probabilities("p", torch.tensor([math.nan, 1.0]))
    validation.log_probabilities("lp", p.log())
    validation.log_probabilities("lp", torch.tensor([[0.0, -math.inf]]))
    with pytest.raises(ValueError, match="logsumexp"):
        validation.log_probabilities("lp", torch.zeros(2, 4))


def test_sign_binary_and_generator_checks():
    validation.signs("v", torch.tensor([1.0, -1.0]))
    validation.binary("w", torch.tensor([True, False]))
    for bad in (0.0, 0.5, math.nan):
        with pytest.raises(ValueError, match="only -1 and \\+1|finite"):
            validation.signs("v", torch.tensor([1.0, bad]))
    with pytest.raises(ValueError, match="only 0s and 1s"):
        validation.binary("w", torch.tensor([2.0]))
    assert validation.generator("generator", None, required=False) is None
    for bad in (None, 0, np.random.default_rng(0)):
        with pytest.raises(TypeError, match="generator must be a torch.Generator"):
            validation.generator("generator", bad)


def test_path_refuses_non_paths_and_missing_files(tmp_path):
    file = tmp_path / "a.txt"
    file.write_text("x")
    assert validation.path("toc_path", str(file)) == file
    assert validation.path("out", tmp_path / "new", exists=None) == tmp_path / "new"
    assert validation.path("book", tmp_path, exists="folder") == tmp_path
    for bad in (None, 3, ["a.txt"]):
        with pytest.raises(TypeError, match="toc_path must be a path"):
            validation.path("toc_path", bad)
    with pytest.raises(ValueError, match="toc_path must name an existing file"):
        validation.path("toc_path", tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="book must name an existing folder"):
        validation.path("book", file, exists="folder")
    with pytest.raises(ValueError, match="out must be a path"):
        validation.path("out", "", exists=None)


def test_integers_beyond_int64_are_refused_unless_asked_for():
    """torch holds integers up to 2^63 - 1: a larger Python int is refused by default (it would
    overflow inside torch); a caller that computes with Python ints may allow any size."""
    assert validation.integer("n", 2**63 - 1) == 2**63 - 1
    for big in (2**63, 2**64, 10**30):
        with pytest.raises(ValueError, match=r"n must be an integer <= 2\^63 - 1"):
            validation.integer("n", big)
    assert validation.integer("n", 10**200, maximum=math.inf) == 10**200
    with pytest.raises(ValueError, match="n must be an integer <= 5"):
        validation.integer("n", 6, maximum=5)
