"""Every public callable of icl answers correctly or refuses clearly.

The table of :mod:`tests.bad_inputs` gives each public callable a good call; every mutation of
every argument (NaN, infinity, negative or zero numbers, fractions, strings, ``None``, numpy
arrays or lists for tensors, integer, boolean or complex dtypes, mixed float dtypes, extra or
missing dimensions, empty batches, values outside {-1, +1} or {0, 1}, unnormalised probabilities
or log-probabilities, ...) must raise ``ValueError`` or ``TypeError`` naming an argument, within
a time limit per case. A public callable without an entry in the table fails the suite.
Run ``python scripts/bad_input_census.py`` for the counts.
"""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from icl import tasks, techniques, theory, validation
from icl.decoders import answer_distribution, coefficient_sampler, sparse_chains
from icl.decoders.gd_chains import sample_chains
from icl.harness import claims
from icl.models.softmax_transformer import CoefficientDecoder, DecoderConfig
from tests import bad_inputs

OUTCOMES: list = []
RAN: set = set()


def test_every_public_callable_has_bad_input_coverage():
    public = {
        name
        for name in bad_inputs.public_callables()
        if not name.startswith(tuple(bad_inputs.NO_BAD_INPUT_MODULES))
    }
    covered = set(bad_inputs.SPECS) | set(bad_inputs.NO_BAD_INPUT)
    assert not public - covered, f"public callables without bad-input cases: {public - covered}"
    assert not covered - public, f"entries for names that are not public: {covered - public}"
    assert not set(bad_inputs.SPECS) & set(bad_inputs.NO_BAD_INPUT)


@pytest.mark.parametrize("name", sorted(bad_inputs.SPECS))
def test_bad_inputs_are_refused(name):
    bad_inputs.run_good(name)  # the good call is answered
    cases = [bad_inputs.run_case(name, *case) for case in bad_inputs.cases_of(name)]
    OUTCOMES.extend(cases)
    RAN.add(name)
    wrong = [
        f"{c.parameter}={c.kind}: {c.outcome} {c.detail}" for c in cases if c.outcome != "refused"
    ]
    assert not wrong, "\n".join(wrong)


def test_census():
    """The counts (printed with ``-s``); run after the table's tests, it checks they all ran."""
    if RAN != set(bad_inputs.SPECS):
        pytest.skip("run with the whole table for the census")
    counts = bad_inputs.census(OUTCOMES)
    print("\nbad-input census:", json.dumps(counts))
    assert counts["refused"] == counts["cases"] == counts["ValueError"] + counts["TypeError"]


# --- the cases, answered right or refused ---


def test_float32_softmax_probabilities_are_accepted():
    logits = torch.randn(1, 1024, generator=torch.Generator().manual_seed(1))
    probs = torch.softmax(logits, dim=-1)[0]  # float32: sums to 1 only to ~1e-7
    value = theory.plurality_vote_accuracy(probs.numpy(), 3)
    exact = theory.plurality_vote_accuracy(probs.double().numpy() / probs.double().sum().item(), 3)
    assert math.isclose(value, exact, rel_tol=1e-5)
    with pytest.raises(ValueError, match="sum to 1"):
        theory.plurality_vote_accuracy((probs.double() * 1.01).numpy(), 3)


def test_decode_support_never_picks_a_zero_weight():
    weights = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        assert sparse_chains.decode_support(weights, 1, generator=gen).tolist() == [[1, 0, 0, 0]]
    with pytest.raises(ValueError, match="at least k = 2 positive"):
        sparse_chains.decode_support(weights, 2, generator=torch.Generator())
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="weights"):
            sparse_chains.decode_support(torch.tensor([[1.0, bad, 1.0]]), 1, greedy=True)


def test_unnormalised_log_probabilities_are_refused():
    zeros = torch.zeros(2, 8, dtype=torch.float64)  # the all-zero table: sums to 8
    target = torch.ones(2, 3, dtype=torch.float64)
    for call in (
        lambda: answer_distribution.marginals(zeros),
        lambda: answer_distribution.probability_of(zeros, target),
        lambda: techniques.best_of_n_accuracy(zeros, zeros, target, 3),
        lambda: techniques.vector_vote_accuracy_3(zeros, target),
    ):
        with pytest.raises(ValueError, match="logsumexp"):
            call()
    uniform = torch.full((2, 8), -math.log(8), dtype=torch.float64)
    assert torch.allclose(answer_distribution.marginals(uniform), torch.full((2, 3), 0.5).double())


def test_nan_and_empty_votes_are_refused():
    gen = torch.Generator().manual_seed(0)
    cand = torch.randn(2, 3, 2, dtype=torch.float64)
    scores = torch.tensor([[0.5, math.nan, 1.0], [0.1, 0.2, 0.3]], dtype=torch.float64)
    with pytest.raises(ValueError, match="scores"):
        techniques.best_of_n(cand, scores)
    with pytest.raises(ValueError, match="samples"):
        techniques.sign_vote(torch.ones(2, 0, 3, dtype=torch.float64), gen)
    with pytest.raises(ValueError, match="only -1 and \\+1"):
        techniques.sign_vote(torch.zeros(2, 3, 3, dtype=torch.float64), gen)
    with pytest.raises(ValueError, match="p must have finite entries"):
        techniques.pass_at_k(torch.tensor([0.5, math.nan]), 2)
    with pytest.raises(ValueError, match="X must not be empty"):
        theory.ridge_gd_iterate(torch.zeros(2, 0, 3), torch.zeros(2, 0), 0.1, 0.0, 3)


def test_enumeration_is_capped():
    model = CoefficientDecoder(DecoderConfig(d=40, n=4, sigma2=1.0, width=8, layers=1, heads=2))
    X, y = torch.randn(1, 4, 40), torch.randn(1, 4)
    with pytest.raises(ValueError, match="model.d must be <= 16"):
        coefficient_sampler.enumerate_margins(model, X, y)


def test_nearest_sample_asymptote_in_log_space():
    # pi e^{900} / N^2 with N = 1e200: finite although e^{900} alone overflows a float
    value = theory.nearest_sample_asymptote(10**200, 30.0)
    assert math.isclose(value, math.exp(math.log(math.pi) + 900 - 400 * math.log(10)))
    with pytest.raises(ValueError, match="overflows"):
        theory.nearest_sample_asymptote(2, 30.0)


def test_a_refused_check_registers_nothing_and_theory_zero_is_json(tmp_path, monkeypatch):
    monkeypatch.setenv("ICL_CLAIMS_DIR", str(tmp_path))
    claims.start_chapter("badinput")
    with pytest.raises(ValueError, match="theory"):
        claims.check("refused-first", "s", math.nan, 1.0, 0.1, rejects={"w": 9.0})
    record = claims.check("refused-first", "s", 0.0, 0.05, 0.1, rejects={"wrong": 9.0})
    assert record.detectable_relative is None and "absolute deviation" in record.summary()
    text = (tmp_path / "badinput.json").read_text()
    assert "Infinity" not in text and json.loads(text)[0]["detectable_relative"] is None


def test_keyword_only_arguments_that_a_swap_would_confuse():
    with pytest.raises(TypeError):
        theory.oracle_gaussian_risk(4, 0.5, 3, 0.1)  # d and bias2 are keyword-only
    with pytest.raises(TypeError):
        theory.oracle_best_of_n_risk(4, 0.5, 0.1, 3)
    assert theory.oracle_gaussian_risk(4, 0.5, d=3, bias2=0.1) > 0


# --- property-based: probability vectors and prompt shapes ---


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=2048),
    st.sampled_from([torch.float32, torch.float64]),
    st.integers(min_value=0, max_value=2**31 - 1),
)
def test_softmax_outputs_pass_and_rescaled_ones_fail(size, dtype, seed):
    logits = torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    p = torch.softmax(logits.to(dtype), dim=-1)
    validation.probabilities("p", p)
    validation.log_probabilities("lp", torch.log_softmax(logits.to(dtype), dim=-1))
    off = 10 * validation.sum_tolerance(dtype, size)
    with pytest.raises(ValueError, match="sum to 1"):
        validation.probabilities("p", (p.double() * (1 - off)).to(dtype))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.complex64]),
)
def test_prompt_batch_accepts_exactly_the_valid_shapes(B, n, d, n_y, dtype):
    X, y = torch.zeros(B, n, d, dtype=dtype), torch.zeros(B, n_y, dtype=dtype)
    valid = min(B, n, d) >= 1 and n_y == n and dtype in (torch.float32, torch.float64)
    if valid:
        assert validation.prompt_batch(X, y) == (B, n, d)
    else:
        with pytest.raises((ValueError, TypeError)):
            validation.prompt_batch(X, y)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([-1.0, 1.0, 0.0, 0.5, math.nan, 2.0]), min_size=1, max_size=6))
def test_sign_vectors_are_exactly_plus_minus_one(values):
    v = torch.tensor([values], dtype=torch.float64)
    if all(x in (-1.0, 1.0) for x in values):
        assert answer_distribution.index_of(v).shape == (1,)
    else:
        with pytest.raises(ValueError):
            answer_distribution.index_of(v)


def test_probability_arrays_keep_their_dtype_tolerance():
    p = np.full(1000, 1 / 1000, dtype=np.float32)
    validation.probabilities("p", p)
    with pytest.raises(ValueError, match="sum to 1"):
        validation.probabilities("p", p.astype(np.float64) * (1 + 1e-6))


def test_arguments_that_do_not_apply_are_refused():
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="psi is only used by the gaussian prior"):
        tasks.sample_weights(2, 3, "rademacher", psi=2.0, generator=gen)
    p = tasks.sample_prompts(2, 4, 3, generator=gen, device="cpu", dtype=torch.float64)
    with pytest.raises(ValueError, match="level applies to noisy decoding only"):
        sample_chains(p.X, p.y, eta=0.1, steps=2, noise="none", level=0.5)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        sample_chains(p.X, p.y, eta=0.1, steps=2, noise="additive", level=0.5)
    with pytest.raises(ValueError, match=r"eta must be in \(0, inf\)"):
        sample_chains(p.X, p.y, eta=0.0, steps=2)


def test_integer_inputs_to_closed_forms_are_computed_in_float64():
    n, c = torch.tensor([10, 20]), torch.tensor([3, 5])
    value = theory.unbiased_pass_at_k(n, c, 2)
    assert value.dtype == torch.float64
    assert torch.allclose(
        value, torch.tensor([1 - 7 * 6 / (10 * 9), 1 - 15 * 14 / (20 * 19)]).double()
    )
    assert theory.majority_vote_accuracy(torch.tensor([0, 1]), 3).tolist() == [0.0, 1.0]
    with pytest.raises(TypeError, match="s must have a float32 or float64 dtype"):
        theory.gd_filter(torch.tensor([1, 2]), eta=0.1, steps=2)
