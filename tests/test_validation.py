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
    with pytest.raises(ValueError, match="expected X"):
        validation.design(X.numpy(), y)
