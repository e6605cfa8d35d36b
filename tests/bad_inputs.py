"""The table of bad inputs that :mod:`tests.test_bad_input` and ``scripts/bad_input_census.py``
drive every public callable of ``icl`` with.

Each public callable has a :class:`Spec`: a *good* call (keyword arguments that the callable
answers correctly) and, for some parameters, the kinds of mutation that are valid there (a
negative ``t`` is a legitimate offset, say). Every other mutation of every parameter
(:func:`mutations`, chosen from the good value's type: NaN, infinity, a negative number, zero, a
fraction where an integer is expected, a string, ``None``, a numpy array or a list where a tensor
is expected, an integer or complex dtype, another float dtype than the other tensors, an extra or
a missing dimension, an empty batch, a value outside {-1, +1} or {0, 1}, unnormalised
probabilities or log-probabilities, ...) must be refused with ``ValueError`` or ``TypeError``.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import math
import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import icl
from icl import runtime, tasks
from icl.domain import domain_of

ROOT = Path(icl.__file__).parent
CASE_SECONDS = 5  # a case that runs longer counts as a hang


def module_names() -> list[str]:
    """Every module and package of icl, dotted."""
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def public_callables() -> list[str]:
    """Dotted names of the public functions and classes defined in icl's modules, and of the public
    methods (class- and static methods included) that these classes define themselves."""
    names = []
    for module_name in module_names():
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ != module_name or obj.__name__ != name:
                continue
            names.append(f"{module_name}.{name}")
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    function = getattr(member, "__func__", member)
                    if not attr.startswith("_") and inspect.isfunction(function):
                        names.append(f"{module_name}.{name}.{attr}")
    return names


def resolve(dotted: str):
    """The callable named ``dotted`` (a method comes unbound: its spec passes ``self``)."""
    for cut in range(dotted.count("."), 0, -1):
        parts = dotted.split(".")
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise LookupError(dotted)


# --- good inputs ---


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def prompts(batch=3, n=6, d=3, prior="rademacher", **kw) -> tasks.Prompts:
    return tasks.sample_prompts(
        batch,
        n,
        d,
        prior=prior,
        sigma2=0.25,
        generator=gen(),
        device="cpu",
        dtype=torch.float64,
        **kw,
    )


def log_probs(batch=3, d=3) -> torch.Tensor:
    return torch.log_softmax(torch.randn(batch, 2**d, generator=gen(), dtype=torch.float64), 1)


def signs(*shape) -> torch.Tensor:
    return torch.where(torch.rand(*shape, generator=gen()) < 0.5, 1.0, -1.0).double()


def tiny_decoder():
    from icl.models.softmax_transformer import CoefficientDecoder, DecoderConfig

    return CoefficientDecoder(DecoderConfig(d=3, n=6, sigma2=0.25, width=8, layers=1, heads=2))


def estimate(values=None):
    from icl.harness.montecarlo import Estimate

    return Estimate.from_values(torch.arange(8.0) if values is None else values)


@dataclass
class Spec:
    """A good call of one callable (``good()`` returns its keyword arguments, ``self`` for a
    method) and, per parameter, the mutation kinds that are valid there."""

    good: callable
    allow: dict[str, set[str]] = field(default_factory=dict)
    setup: callable | None = None  # run before every case (e.g. start a chapter)
    good_runs: bool = True  # False where the good call itself takes minutes


def _claims_chapter():
    from icl.harness import claims

    claims.start_chapter("badinput")


def _value(v):
    return v() if callable(v) and not isinstance(v, type) else v


def _prompts_kw(**extra):
    def good():
        p = prompts()
        return {"X": p.X, "y": p.y, **{k: _value(v) for k, v in extra.items()}}

    return good


def _with(base, **extra):
    def good():
        kw = base()
        kw.update({k: _value(v) for k, v in extra.items()})
        return kw

    return good


def _theory(**kw):
    return Spec(lambda: dict(kw))


THEORY_NDS = dict(n=20, d=5, sigma2=0.25)
ANY_SIGN = {"negative"}
# Mutations valid for a parameter of this name wherever it appears: a zero noise variance, bias or
# offset, a zero or negative real-valued location, any real task vector.
VALID_BY_NAME = {
    **dict.fromkeys(
        (
            "sigma2",
            "bias2",
            "lam",
            "shift",
            "delta2",
            "weight_decay",
            "init_std",
            "min_stderr",
            "noise_sd",
        ),
        {"zero"},
    ),
    **dict.fromkeys(
        ("t", "u", "mean", "center", "target", "risk_offset", "score_offset"), {"zero", "negative"}
    ),
    "mean_norm": {"zero"},
    "w": {"not_sign", "zero", "negative"},
    "seed": {"zero"},
    "statement": {"bogus"},
}
NAME_OK = {"bogus", "none", "int"}  # the validators' own ``name`` is any label
REAL_W = {"not_sign", "zero"}  # a task w is any real vector
X_Y_W = _with(lambda: {"X": prompts().X, "y": prompts().y}, w=lambda: prompts().w)

# The good call of both linear-attention models' constructors (a zero init_std is valid).
LAYER_SPEC = Spec(
    lambda: {"d": 3, "init_std": 0.1, "generator": gen(), "device": "cpu", "dtype": torch.float64},
    allow={"init_std": {"zero"}},
)

SPECS: dict[str, Spec] = {
    # --- icl.validation ---
    "icl.validation.integer": Spec(
        lambda: {"name": "n", "value": 3, "minimum": 1, "maximum": None},
        allow={"name": NAME_OK, "minimum": {"negative", "zero"}},
    ),
    "icl.validation.real": Spec(
        lambda: {"name": "x", "value": 1.0, "minimum": None, "strict": False},
        allow={"name": NAME_OK, "value": {"negative"}},
    ),
    "icl.validation.positive": Spec(lambda: {"name": "x", "value": 1.0}, allow={"name": NAME_OK}),
    "icl.validation.choice": Spec(
        lambda: {"name": "x", "value": "a", "options": ("a", "b")}, allow={"name": NAME_OK}
    ),
    "icl.validation.flag": Spec(lambda: {"name": "x", "value": True}, allow={"name": NAME_OK}),
    "icl.validation.generator": Spec(
        lambda: {"name": "g", "value": gen(), "required": True, "device": None},
        allow={"name": NAME_OK},
    ),
    "icl.validation.tensor": Spec(
        lambda: {"name": "x", "value": torch.ones(2, 3)},
        allow={"name": NAME_OK, "value": {"negative", "extra_dim", "flat"}},
    ),
    "icl.validation.same_dtype": Spec(
        lambda: {
            "X": torch.zeros(2, dtype=torch.float64),
            "y": torch.zeros(2, dtype=torch.float64),
        },
        allow={
            "X": {
                "extra_dim",
                "flat",
                "empty",
                "wrong_size",
                "nan",
                "inf",
                "negative",
                "not_binary",
            },
            "y": {
                "extra_dim",
                "flat",
                "empty",
                "wrong_size",
                "nan",
                "inf",
                "negative",
                "not_binary",
            },
        },
    ),
    "icl.validation.sum_tolerance": Spec(lambda: {"dtype": torch.float32, "size": 4}),
    # what: any label of the sizes; count: any integer >= 0 (0 entries fit)
    "icl.validation.entries": Spec(
        lambda: {"what": "B * d", "count": 10}, allow={"what": NAME_OK, "count": {"zero"}}
    ),
    "icl.validation.work": Spec(
        lambda: {"what": "steps * B * d^2", "count": 10},
        allow={"what": NAME_OK, "count": {"zero"}},
    ),
    "icl.validation.probabilities": Spec(
        lambda: {"name": "p", "value": torch.tensor([0.25, 0.75]), "dim": -1, "normalised": True},
        allow={"name": NAME_OK, "value": {"extra_dim"}, "dim": {"negative"}},
    ),
    "icl.validation.log_probabilities": Spec(
        lambda: {"name": "lp", "value": log_probs(), "dim": -1},
        allow={
            "name": {"bogus"},
            "value": {"extra_dim", "flat", "negative"},
            "dim": {"negative", "zero"},
        },
    ),
    "icl.validation.signs": Spec(
        lambda: {"name": "v", "value": signs(2, 3)},
        allow={"name": NAME_OK, "value": {"extra_dim", "flat", "int_dtype"}},
    ),
    "icl.validation.binary": Spec(
        lambda: {"name": "v", "value": torch.tensor([0.0, 1.0])},
        allow={"name": NAME_OK, "value": {"extra_dim", "int_dtype"}},
    ),
    "icl.validation.array": Spec(
        lambda: {"name": "a", "value": np.ones(2), "finite": True, "minimum": None},
        allow={"name": NAME_OK, "value": {"extra_dim", "empty"}, "finite": {"*"}, "minimum": {"*"}},
    ),
    "icl.validation.device": Spec(
        lambda: {"name": "dev", "value": "cpu", "available": True},
        allow={"name": NAME_OK, "available": {"*"}},
    ),
    "icl.validation.module": Spec(
        lambda: {"name": "m", "value": torch.nn.Linear(1, 1), "kind": torch.nn.Module},
        allow={"name": NAME_OK, "kind": {"*"}},
    ),
    "icl.validation.function": Spec(
        lambda: {"name": "f", "value": len, "optional": False},
        allow={"name": NAME_OK, "optional": {"*"}},
    ),
    "icl.validation.design": Spec(_prompts_kw(), allow={"X": {"extra_dim"}, "y": set()}),
    "icl.validation.prompt_batch": Spec(_prompts_kw()),
    # --- icl.tasks ---
    "icl.tasks.sample_weights": Spec(
        lambda: {
            "batch": 3,
            "d": 4,
            "prior": "gaussian",
            "psi": 1.0,
            "generator": gen(),
            "device": "cpu",
            "dtype": torch.float64,
        }
    ),
    "icl.tasks.sample_prompts": Spec(
        lambda: {
            "batch": 3,
            "n": 5,
            "d": 4,
            "prior": "gaussian",
            "sigma2": 0.25,
            "generator": gen(),
            "device": "cpu",
            "dtype": torch.float64,
        }
    ),
    "icl.tasks.sample_prompts_for_tasks": Spec(
        lambda: {"w": prompts().w, "n": 5, "sigma2": 0.25, "generator": gen()},
        allow={"w": {"negative"}},
    ),
    "icl.tasks.prototype_support": Spec(lambda: {"d": 10, "k": 2}),
    # --- icl.decoders.answer_distribution ---
    "icl.decoders.answer_distribution.sign_vectors": Spec(lambda: {"d": 3, "dtype": torch.float64}),
    "icl.decoders.answer_distribution.index_of": Spec(
        lambda: {"v": signs(3, 4)}, allow={"v": {"extra_dim", "flat"}}
    ),
    "icl.decoders.answer_distribution.rademacher_log_posterior": Spec(_prompts_kw(sigma2=0.25)),
    "icl.decoders.answer_distribution.linear_estimate": Spec(_prompts_kw(eta=1.0)),
    "icl.decoders.answer_distribution.linear_log_probs": Spec(
        _prompts_kw(eta=1.0, temperature=0.5)
    ),
    "icl.decoders.answer_distribution.answer_dimension": Spec(lambda: {"log_probs": log_probs()}),
    "icl.decoders.answer_distribution.marginals": Spec(lambda: {"log_probs": log_probs()}),
    "icl.decoders.answer_distribution.probability_of": Spec(
        lambda: {"log_probs": log_probs(), "w": signs(3, 3)}
    ),
    "icl.decoders.answer_distribution.mode": Spec(lambda: {"log_probs": log_probs()}),
    # --- icl.decoders.coefficient_sampler ---
    "icl.decoders.coefficient_sampler.sample_coefficients": Spec(
        _prompts_kw(model=tiny_decoder, n_samples=2, temperature=1.0, generator=gen)
    ),
    "icl.decoders.coefficient_sampler.greedy_coefficients": Spec(_prompts_kw(model=tiny_decoder)),
    "icl.decoders.coefficient_sampler.enumerate_margins": Spec(_prompts_kw(model=tiny_decoder)),
    "icl.decoders.coefficient_sampler.log_probs_at": Spec(
        lambda: {
            "margins": torch.randn(2, 8, 3, generator=gen(), dtype=torch.float64),
            "temperature": 0.5,
        },
        allow={"margins": {"negative"}},
    ),
    # --- icl.decoders.gd_chains ---
    "icl.decoders.gd_chains.sample_chains": Spec(
        _prompts_kw(
            eta=0.1,
            steps=3,
            n_chains=2,
            lam=0.0,
            noise="additive",
            level=0.1,
            generator=gen,
            return_path=False,
        ),
        allow={"steps": {"zero"}, "lam": {"zero"}},
    ),
    # --- icl.decoders.sparse_chains ---
    "icl.decoders.sparse_chains.sparse_binary_chains": Spec(
        _with(
            lambda: (lambda p: {"X": p.X, "y": p.y})(prompts(prior="sparse-binary", k=1)),
            k=1,
            eta=1.0,
            steps=2,
            n_chains=2,
            greedy=False,
            clip=1e-10,
            generator=gen,
        )
    ),
    "icl.decoders.sparse_chains.decode_support": Spec(
        lambda: {
            "weights": torch.tensor([[1.0, 0.5, 0.2, 0.1]]),
            "k": 2,
            "greedy": False,
            "generator": gen(),
        },
        allow={"weights": {"extra_dim", "flat"}},
    ),
    "icl.decoders.sparse_chains.support_codes": Spec(
        lambda: {"w": torch.tensor([[1.0, 0.0, 1.0]])},
        allow={"w": {"extra_dim", "flat", "int_dtype"}},
    ),
    # --- icl.techniques ---
    "icl.techniques.oracle_score": Spec(
        lambda: {"candidates": torch.randn(3, 2, 3, dtype=torch.float64), "w": prompts().w}
    ),
    "icl.techniques.in_context_loss": Spec(
        _with(_prompts_kw(), candidates=lambda: torch.randn(3, 2, 3, dtype=torch.float64))
    ),
    "icl.techniques.norm_score": Spec(
        lambda: {"candidates": torch.randn(3, 2, 3, dtype=torch.float64)}
    ),
    "icl.techniques.best_of_n": Spec(
        lambda: {
            "candidates": torch.randn(3, 2, 3, dtype=torch.float64),
            "scores": torch.rand(3, 2, dtype=torch.float64),
        },
        allow={"scores": {"negative"}},
    ),
    "icl.techniques.best_of_n_values": Spec(
        lambda: {
            "scores": torch.rand(3, 4, dtype=torch.float64),
            "values": torch.rand(3, 4, dtype=torch.float64),
        },
        allow={"scores": {"negative"}, "values": {"negative"}},
    ),
    "icl.techniques.nested_averages": Spec(
        lambda: {"answers": torch.randn(3, 4, 2, dtype=torch.float64), "n_avg": [1, 4]}
    ),
    "icl.techniques.plurality_vote": Spec(
        lambda: {
            "answers": torch.tensor([[1, 2, 2], [3, 3, 1]]),
            "generator": gen(),
            "ties": "uniform",
        },
        allow={"answers": {"negative"}},
    ),
    "icl.techniques.sign_vote": Spec(lambda: {"samples": signs(3, 5, 2), "generator": gen()}),
    "icl.techniques.vector_vote": Spec(lambda: {"samples": signs(3, 5, 2), "generator": gen()}),
    "icl.techniques.pass_at_k": Spec(
        lambda: {"p": torch.tensor([0.2, 0.9]), "k": 3}, allow={"p": {"extra_dim", "unnormalised"}}
    ),
    "icl.techniques.best_of_n_accuracy": Spec(
        lambda: {
            "log_probs": log_probs(),
            "scores": torch.rand(3, 8, dtype=torch.float64),
            "target": signs(3, 3),
            "n_samples": 4,
        },
        allow={"scores": {"negative"}},
    ),
    "icl.techniques.vector_vote_accuracy_3": Spec(
        lambda: {"log_probs": log_probs(), "target": signs(3, 3)}
    ),
    # --- icl.theory ---
    "icl.theory.one_step.one_step_risk": _theory(**THEORY_NDS, eta=0.5, psi2=1.0),
    "icl.theory.one_step.optimal_step": _theory(**THEORY_NDS, psi2=1.0),
    "icl.theory.one_step.optimal_one_step_risk": _theory(**THEORY_NDS, psi2=1.0),
    "icl.theory.one_step.preconditioned_risk": Spec(
        lambda: {"gamma": np.eye(3) * 0.5, "n": 20, "sigma2": 0.25, "psi2": 1.0},
        allow={"gamma": {"negative"}, "sigma2": {"zero"}},
    ),
    "icl.theory.one_step.optimal_preconditioner": _theory(**THEORY_NDS, psi2=1.0),
    "icl.theory.gradient_descent.bayes_ridge_penalty": _theory(n=20, sigma2=0.25, psi2=1.0),
    "icl.theory.gradient_descent.gd_filter": Spec(
        lambda: {
            "s": torch.tensor([0.5, 1.0], dtype=torch.float64),
            "eta": 0.5,
            "steps": 3,
            "lam": 0.0,
        },
        allow={"s": {"extra_dim", "flat"}, "steps": {"zero"}, "lam": {"zero"}},
    ),
    "icl.theory.gradient_descent.ridge_gd_iterate": Spec(
        _prompts_kw(eta=0.5, lam=0.0, T=3), allow={"X": {"extra_dim"}, "T": {"zero"}}
    ),
    "icl.theory.gradient_descent.gd_risk_given_spectrum": Spec(
        lambda: {
            "s": torch.tensor([0.5, 1.0], dtype=torch.float64),
            "n": 20,
            "eta": 0.5,
            "steps": 3,
            "sigma2": 0.25,
            "psi2": 1.0,
            "lam": 0.0,
        },
        allow={"s": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}, "sigma2": {"zero"}},
    ),
    "icl.theory.gradient_descent.gd_risk_given_X": Spec(
        lambda: {"X": prompts().X, "eta": 0.5, "steps": 3, "sigma2": 0.25, "psi2": 1.0, "lam": 0.0},
        allow={"X": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}, "sigma2": {"zero"}},
    ),
    "icl.theory.gradient_descent.least_squares_risk": _theory(**THEORY_NDS),
    "icl.theory.noisy_chains.gaussian_fourth_moment": Spec(
        lambda: {"M": torch.eye(3, dtype=torch.float64), "delta2": 0.1},
        allow={"M": {"extra_dim", "negative"}, "delta2": {"zero"}},
    ),
    "icl.theory.noisy_chains.chain_mean": Spec(
        _prompts_kw(eta=0.1, steps=3, noise="additive", level=0.1, lam=0.0),
        allow={"X": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}},
    ),
    "icl.theory.noisy_chains.chain_covariance": Spec(
        _prompts_kw(eta=0.1, steps=3, noise="additive", level=0.1, lam=0.0),
        allow={"X": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}},
    ),
    "icl.theory.noisy_chains.stationary_chain_covariance": Spec(
        _prompts_kw(eta=0.1, noise="additive", level=0.1, lam=0.0),
        allow={"X": {"extra_dim"}, "lam": {"zero"}},
    ),
    "icl.theory.noisy_chains.chain_risk_terms": Spec(
        _with(X_Y_W, eta=0.1, steps=3, level=0.1, noise="multiplicative", lam=0.0),
        allow={"X": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}, "w": {"negative"}},
    ),
    "icl.theory.noisy_chains.averaged_chain_risk": Spec(
        _with(X_Y_W, eta=0.1, steps=3, level=0.1, n_chains=2, lam=0.0),
        allow={"X": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}},
    ),
    "icl.theory.noisy_chains.chain_error_moments": Spec(
        _with(X_Y_W, eta=0.1, steps=3, level=0.1, noise="multiplicative", lam=0.0),
        allow={"X": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}},
    ),
    "icl.theory.noisy_chains.averaged_chain_error_norm": Spec(
        _with(X_Y_W, eta=0.1, steps=3, level=0.1, n_chains=2, noise="multiplicative", lam=0.0),
        allow={"X": {"extra_dim"}, "steps": {"zero"}, "lam": {"zero"}},
    ),
    "icl.theory.noisy_chains.unstable_design_probability_bound": _theory(
        n=20, d=5, eta=0.5, shift=0.0
    ),
    "icl.theory.wishart.wishart_eigenvalue_density": Spec(
        lambda: {"s": np.array([0.5, 1.0]), "n": 20, "d": 5, "beta": 1}, allow={"s": {"extra_dim"}}
    ),
    "icl.theory.wishart.wishart_linear_statistic": Spec(
        lambda: {"g": np.square, "n": 20, "d": 5, "upper": None, "beta": 1}
    ),
    "icl.theory.wishart.gd_risk_parts": _theory(**THEORY_NDS, eta=0.3, T=3, psi2=1.0, lam=0.0),
    "icl.theory.wishart.expected_gd_risk": _theory(**THEORY_NDS, eta=0.3, T=3, psi2=1.0),
    "icl.theory.wishart.gd_parting_steps": _theory(**THEORY_NDS, eta=0.3, psi2=1.0, lam=0.0),
    "icl.theory.wishart.gd_divergent_part_laplace": _theory(
        **THEORY_NDS, eta=0.3, T=3, psi2=1.0, lam=0.0
    ),
    "icl.theory.wishart.expected_gd_risk_marchenko_pastur": _theory(
        **THEORY_NDS, eta=0.3, T=3, psi2=1.0
    ),
    "icl.theory.best_of_n.expected_min_gaussian": _theory(n_samples=4),
    "icl.theory.best_of_n.expected_min_sq_offset": Spec(
        lambda: {"n_samples": 4, "t": 0.5}, allow={"t": ANY_SIGN}
    ),
    "icl.theory.best_of_n.expected_nearest_offset": Spec(
        lambda: {"n_samples": 4, "t": 0.5}, allow={"t": ANY_SIGN}
    ),
    "icl.theory.best_of_n.best_of_n_risk_1d": Spec(
        lambda: {"n_samples": 4, "tau": 0.5, "mean": 0.1, "center": 0.0, "target": 0.2},
        allow={"mean": ANY_SIGN, "center": ANY_SIGN, "target": ANY_SIGN},
    ),
    "icl.theory.best_of_n.oracle_best_of_n_risk": Spec(
        lambda: {"n_samples": 4, "tau": 0.5, "bias2": 0.1, "d": 3}
    ),
    "icl.theory.best_of_n.norm_reward_shrinkage": Spec(
        lambda: {"n_samples": 4, "tau": 0.5, "mean_norm": 0.3, "d": 3}
    ),
    "icl.theory.best_of_n.norm_reward_risk": Spec(
        lambda: {
            "n_samples": 4,
            "tau": 0.5,
            "mean": np.array([0.1, -0.2]),
            "target": np.array([0.0, 0.3]),
        },
        allow={"mean": {"negative"}, "target": {"negative"}},
    ),
    "icl.theory.best_of_n.best_of_n_risk_1d_averaged": Spec(
        lambda: {
            "n_samples": 4,
            "tau": 0.5,
            "n": 10,
            "sigma2": 0.25,
            "eta": 0.5,
            "reward": "oracle",
            "psi2": 1.0,
        },
        allow={"sigma2": {"zero"}},
    ),
    "icl.theory.best_of_n.gaussian_selection_risk": Spec(
        lambda: {
            "n_samples": 4,
            "tau": 0.5,
            "risk_offset": np.array([0.1, 0.0]),
            "score_offset": np.array([0.0, 0.2]),
            "metric": None,
        },
        allow={"risk_offset": {"negative"}, "score_offset": {"negative"}},
    ),
    "icl.theory.best_of_n.oracle_gaussian_risk": _theory(n_samples=4, tau=0.5, d=3, bias2=0.1),
    "icl.theory.best_of_n.oracle_optimal_temperature": _theory(n_samples=4, d=3, bias2=0.1),
    "icl.theory.best_of_n.oracle_optimal_risk": _theory(n_samples=4, d=3, bias2=0.1),
    "icl.theory.best_of_n.nearest_sample_asymptote": Spec(
        lambda: {"n_samples": 4, "t": 0.5, "spread": 1.0}, allow={"t": ANY_SIGN | {"zero"}}
    ),
    "icl.theory.best_of_n.min_norm_risk": _theory(n=5, d=20, sigma2=0.25, psi2=1.0),
    "icl.theory.best_of_n.in_context_limit_risk": _theory(
        n=5, d=20, sigma2=0.25, tau=0.5, psi2=1.0
    ),
    "icl.theory.binary_decoding.greedy_sign_error": _theory(**THEORY_NDS),
    "icl.theory.binary_decoding.margin_density": Spec(
        lambda: {"u": 0.5, **THEORY_NDS}, allow={"u": ANY_SIGN}
    ),
    "icl.theory.binary_decoding.sampled_sign_error": _theory(
        **THEORY_NDS, eta=1.0, temperature=0.5
    ),
    "icl.theory.binary_decoding.calibration_temperature": _theory(**THEORY_NDS, eta=1.0),
    "icl.theory.binary_decoding.greedy_exact_recovery": _theory(**THEORY_NDS),
    "icl.theory.binary_decoding.majority_vote_accuracy": Spec(lambda: {"p": 0.7, "N": 3}),
    "icl.theory.binary_decoding.vote_sign_accuracy": _theory(
        **THEORY_NDS, eta=1.0, temperature=0.5, N=3
    ),
    "icl.theory.binary_decoding.unbiased_pass_at_k": Spec(
        lambda: {"n": 10, "c": 3, "k": 2}, allow={"c": {"zero"}}
    ),
    "icl.theory.binary_decoding.votes_needed": _theory(delta=0.1, target=0.9),
    "icl.theory.binary_decoding.plurality_vote_accuracy": Spec(
        lambda: {
            "probs": np.array([0.5, 0.3, 0.2]),
            "N": 3,
            "correct": 0,
            "tol": 1e-12,
            "ties": "uniform",
            "codes": None,
        },
        allow={"correct": {"zero"}},
    ),
    "icl.theory.binary_decoding.subsample_vote_accuracy": Spec(
        lambda: {
            "counts": np.array([5, 3, 2]),
            "N": 3,
            "correct": 0,
            "tol": 1e-12,
            "ties": "uniform",
            "codes": None,
        },
        allow={"correct": {"zero"}},
    ),
    "icl.theory.sparse_chains.draw_set_probability": Spec(
        lambda: {
            "weights": torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=torch.float64),
            "support": torch.tensor([[0, 2]]),
        },
        allow={"weights": {"extra_dim", "flat"}, "support": {"zero"}},
    ),
    "icl.theory.sparse_chains.step_weights": Spec(
        _with(
            lambda: (lambda p: {"X": p.X, "y": p.y, "w": p.w})(prompts(prior="sparse-binary", k=1)),
            eta=1.0,
            clip=1e-10,
        ),
        allow={"X": {"extra_dim"}},
    ),
    # --- icl.models ---
    "icl.models.linear_attention.embed_prompts": Spec(
        lambda: (lambda p: {"X": p.X, "y": p.y, "x_query": p.x_query})(prompts()),
        allow={"x_query": {"negative"}},
    ),
    "icl.models.linear_attention.LinearSelfAttention": LAYER_SPEC,
    "icl.models.linear_attention.LinearSelfAttention.token_width": Spec(lambda: {"d": 3}),
    "icl.models.linear_attention.LinearSelfAttention.from_preconditioner": Spec(
        lambda: {"gamma": torch.eye(3, dtype=torch.float64)}, allow={"gamma": {"negative"}}
    ),
    "icl.models.linear_attention.LinearSelfAttention.forward": Spec(
        lambda: (
            lambda m, p: {
                "self": m,
                "Z": m
                and __import__("icl.models.linear_attention", fromlist=["x"]).embed_prompts(
                    p.X, p.y, p.x_query
                ),
            }
        )(
            __import__("icl.models.linear_attention", fromlist=["x"]).LinearSelfAttention(3),
            prompts(),
        )
    ),
    "icl.models.linear_attention.LinearSelfAttention.predict": Spec(
        lambda: (
            lambda p: {
                "self": __import__(
                    "icl.models.linear_attention", fromlist=["x"]
                ).LinearSelfAttention(3),
                "X": p.X,
                "y": p.y,
                "x_query": p.x_query,
            }
        )(prompts())
    ),
    "icl.models.linear_attention.LinearSelfAttention.effective_preconditioner": Spec(
        lambda: {
            "self": __import__("icl.models.linear_attention", fromlist=["x"]).LinearSelfAttention(3)
        }
    ),
    "icl.models.linear_attention.train_linear_attention": Spec(
        lambda: {
            "model": __import__("icl.models.linear_attention", fromlist=["x"]).LinearSelfAttention(
                3
            ),
            "n": 5,
            "sigma2": 0.25,
            "steps": 2,
            "batch": 4,
            "lr": 0.01,
            "seed": 0,
            "prior": "gaussian",
            "record_every": 1,
        },
        allow={"seed": {"zero"}, "sigma2": {"zero"}},
    ),
    "icl.models.thought_transformer.embed_thoughts": Spec(
        lambda: (
            lambda p: {"X": p.X, "y": p.y, "thoughts": torch.zeros(3, 2, 3, dtype=torch.float64)}
        )(prompts()),
        allow={"thoughts": {"negative"}},
    ),
    "icl.models.thought_transformer.ThoughtTransformer": LAYER_SPEC,
    "icl.models.thought_transformer.ThoughtTransformer.token_width": Spec(lambda: {"d": 3}),
    "icl.models.thought_transformer.ThoughtTransformer.gd_weights": Spec(
        lambda: {"d": 3, "eta": 0.1, "device": "cpu", "dtype": torch.float64}
    ),
    "icl.models.thought_transformer.ThoughtTransformer.forward": Spec(
        lambda: (
            lambda tt, p: {
                "self": tt.ThoughtTransformer(3),
                "n": 6,
                "Z": tt.embed_thoughts(p.X, p.y, torch.zeros(3, 2, 3, dtype=torch.float64)),
            }
        )(__import__("icl.models.thought_transformer", fromlist=["x"]), prompts())
    ),
    "icl.models.thought_transformer.ThoughtTransformer.next_thoughts": Spec(
        lambda: (
            lambda tt, p: {
                "self": tt.ThoughtTransformer(3),
                "X": p.X,
                "y": p.y,
                "thoughts": torch.zeros(3, 2, 3, dtype=torch.float64),
            }
        )(__import__("icl.models.thought_transformer", fromlist=["x"]), prompts()),
        allow={"thoughts": {"negative"}},
    ),
    "icl.models.thought_transformer.ThoughtTransformer.rollout": Spec(
        lambda: (lambda tt, p: {"self": tt.ThoughtTransformer(3), "X": p.X, "y": p.y, "steps": 2})(
            __import__("icl.models.thought_transformer", fromlist=["x"]), prompts()
        ),
        allow={"steps": {"zero"}},
    ),
    "icl.models.thought_transformer.train_thought_transformer": Spec(
        lambda: {
            "model": __import__(
                "icl.models.thought_transformer", fromlist=["x"]
            ).ThoughtTransformer(3),
            "n": 5,
            "eta": 0.1,
            "thoughts": 2,
            "steps": 2,
            "batch": 4,
            "lr": 0.01,
            "seed": 0,
            "sigma2": 0.25,
            "prior": "gaussian",
        },
        allow={"seed": {"zero"}, "sigma2": {"zero"}},
    ),
    "icl.models.training.fresh_prompts": Spec(
        lambda: {
            "weight": torch.zeros(2, dtype=torch.float64),
            "batch": 3,
            "n": 4,
            "d": 2,
            "generator": gen(),
            "prior": "gaussian",
            "sigma2": 0.25,
        },
        allow={"weight": {"negative", "extra_dim", "flat"}, "sigma2": {"zero"}},
    ),
    "icl.models.training.adam_with_cosine_decay": Spec(
        lambda: {"model": torch.nn.Linear(2, 1), "lr": 0.01, "steps": 3}
    ),
    "icl.models.training.train": Spec(
        lambda: (
            lambda m, opt: {
                "model": m,
                "batch_loss": lambda g: (m(torch.randn(4, 2, generator=g)) ** 2).mean(),
                "optimizer": opt,
                "schedule": torch.optim.lr_scheduler.ConstantLR(opt),
                "steps": 2,
                "seed": 0,
                "snapshot": None,
                "record_every": 1,
            }
        )(*(lambda m: (m, torch.optim.SGD(m.parameters(), lr=0.01)))(torch.nn.Linear(2, 1))),
        allow={"seed": {"zero"}},
    ),
    "icl.models.softmax_transformer.DecoderConfig": Spec(
        lambda: {"d": 3, "n": 6, "sigma2": 0.25, "width": 8, "layers": 1, "heads": 2},
        allow={"sigma2": {"zero"}},
    ),
    "icl.models.softmax_transformer.TrainingConfig": Spec(
        lambda: {"steps": 2, "batch": 4, "lr": 0.01, "warmup": 1, "weight_decay": 0.0},
        allow={"warmup": {"zero"}, "weight_decay": {"zero"}},
    ),
    "icl.models.softmax_transformer.CoefficientDecoder": Spec(
        lambda: {
            "config": __import__("icl.models.softmax_transformer", fromlist=["x"]).DecoderConfig(
                d=3, n=6, sigma2=0.25, width=8, layers=1, heads=2
            ),
            "seed": 0,
            "device": "cpu",
            "dtype": torch.float32,
        },
        allow={"seed": {"zero"}},
    ),
    "icl.models.softmax_transformer.CoefficientDecoder.answer_inputs": Spec(
        lambda: {"self": tiny_decoder(), "previous": signs(3, 2).float(), "position": 1}
    ),
    "icl.models.softmax_transformer.CoefficientDecoder.forward": Spec(
        lambda: (lambda p: {"self": tiny_decoder(), "X": p.X, "y": p.y, "signs": p.w})(prompts())
    ),
    "icl.models.softmax_transformer.CoefficientDecoder.encode": Spec(
        lambda: (lambda p: {"self": tiny_decoder(), "X": p.X, "y": p.y})(prompts())
    ),
    "icl.models.softmax_transformer.CoefficientDecoder.step": Spec(
        lambda: (
            lambda m, p: {
                "self": m,
                "inputs": m.answer_inputs(None, 0).expand(3, 1, -1),
                "context": m.encode(p.X, p.y),
                "prefix": None,
            }
        )(tiny_decoder(), prompts())
    ),
    "icl.models.softmax_transformer.cross_entropy": Spec(
        lambda: {"model": tiny_decoder(), "prompts": prompts()}
    ),
    "icl.models.softmax_transformer.train_coefficient_decoder": Spec(
        lambda: {
            "model": tiny_decoder(),
            "training": __import__("icl.models.softmax_transformer", fromlist=["x"]).TrainingConfig(
                steps=1, batch=4, warmup=1
            ),
            "seed": 0,
        },
        allow={"seed": {"zero"}},
    ),
    "icl.models.softmax_transformer.train_at_scale": Spec(
        lambda: {"scale": "smoke", "seed": 0, "device": "cpu"},
        allow={"seed": {"zero"}},
        good_runs=False,
    ),
    # --- icl.sparse_vote ---
    "icl.sparse_vote.SparseVoteSettings": Spec(
        lambda: {"d": 6, "n": 8, "k": 2, "steps": 2, "noise_sd": 0.01, "eta": 1.0}
    ),
    "icl.sparse_vote.draw_sparse_prompts": Spec(
        lambda: {
            "protocol": "book",
            "batch": 3,
            "generator": gen(),
            "settings": __import__("icl.sparse_vote", fromlist=["x"]).SparseVoteSettings(
                d=6, n=8, k=2, steps=2
            ),
        }
    ),
    "icl.sparse_vote.sampled_answer_codes": Spec(
        _with(
            lambda: (lambda p: {"X": p.X, "y": p.y})(prompts(prior="sparse-binary", k=1)),
            k=1,
            eta=1.0,
            steps=2,
            samples=3,
            generator=gen,
            chunk=None,
        )
    ),
    "icl.sparse_vote.run_sparse_vote": Spec(
        lambda: {
            "protocol": "book",
            "prompts": 3,
            "samples": 2,
            "seed": 0,
            "settings": __import__("icl.sparse_vote", fromlist=["x"]).SparseVoteSettings(
                d=6, n=8, k=2, steps=2
            ),
            "greedy_prompts": None,
            "chunk": None,
        },
        allow={"seed": {"zero"}},
    ),
    "icl.sparse_vote.vote_wins": Spec(
        lambda: {
            "codes": torch.tensor([[1, 2, 2], [3, 3, 1]]),
            "truth": torch.tensor([2, 3]),
            "n_votes": [1, 3],
            "ties": "uniform",
            "generator": gen(),
        }
    ),
    "icl.sparse_vote.answer_counts": Spec(
        lambda: {"codes": torch.tensor([1, 2, 2]), "true_code": torch.tensor(2)}
    ),
    "icl.sparse_vote.exact_subset_votes": Spec(
        lambda: {
            "codes": torch.tensor([[1, 2, 2], [3, 3, 1]]),
            "truth": torch.tensor([2, 3]),
            "n_votes": 2,
            "ties": "uniform",
        }
    ),
    # --- icl.harness ---
    "icl.runtime.dtype": Spec(lambda: {"dev": torch.device("cpu")}),
    "icl.runtime.by_scale": Spec(
        lambda: {"smoke": 1, "full": 2}, allow={"smoke": {"*"}, "full": {"*"}}
    ),
    "icl.runtime.generator": Spec(lambda: {"seed": 1, "dev": "cpu"}, allow={"seed": {"zero"}}),
    "icl.runtime.standard_normal": Spec(
        lambda: {"shape": (2, 3), "generator": gen(), "device": "cpu", "dtype": torch.float64},
        allow={"generator": {"none"}, "device": {"none"}, "dtype": {"none"}},
    ),
    "icl.harness.montecarlo.Estimate.from_values": Spec(
        lambda: {"values": torch.arange(4.0), "seed": None, "seconds": 0.0},
        allow={
            "values": {"extra_dim", "numpy", "list", "negative"},
            "seed": {"zero"},
            "seconds": {"zero"},
        },
    ),
    "icl.harness.montecarlo.estimate_mean": Spec(
        lambda: {
            "sample": lambda b, g: torch.randn(b, generator=g),
            "n_samples": 8,
            "seed": 0,
            "chunk_size": 4,
            "dev": "cpu",
            "keep_values": False,
        },
        allow={"seed": {"zero"}},
    ),
    "icl.harness.claims.start_chapter": Spec(lambda: {"chapter": "badinput"}),
    "icl.harness.claims.load_records": Spec(lambda: {"chapter": "badinput"}),
    "icl.harness.claims.load_measurements": Spec(lambda: {"chapter": "badinput"}),
    "icl.harness.claims.record_files": Spec(lambda: {"chapter": "badinput"}),
    "icl.harness.claims.check": Spec(
        lambda: {
            "claim_id": "bad-input-check",
            "statement": "s",
            "theory": 1.0,
            "estimate": 1.01,
            "stderr": 0.01,
            "z": 4.0,
            "rejects": {"wrong": 2.0},
        },
        allow={"statement": {"bogus"}, "claim_id": {"bogus"}},
        setup=_claims_chapter,
    ),
    "icl.harness.claims.check_paired": Spec(
        lambda: {
            "claim_id": "bad-input-paired",
            "statement": "s",
            "simulated": torch.tensor([1.0, 2.0, 3.1, 4.0]),
            "exact": torch.tensor([1.0, 2.1, 3.0, 4.0]),
            "z": 4.0,
            "rejects": {"wrong": 9.0},
        },
        allow={
            "statement": {"bogus"},
            "claim_id": {"bogus"},
            "simulated": {"numpy", "list", "negative"},
            "exact": {"numpy", "list", "negative"},
        },
        setup=_claims_chapter,
    ),
    "icl.harness.claims.chapter_summary": Spec(
        lambda: {"at_least": 0, "exactly": None},
        allow={"at_least": {"zero"}},
        setup=_claims_chapter,
    ),
    "icl.harness.claims.measure": Spec(
        lambda: {
            "measure_id": "bad-input-measure",
            "statement": "s",
            "estimate": 1.0,
            "stderr": 0.1,
            "min_stderr": 0.0,
        },
        allow={
            "statement": {"bogus"},
            "measure_id": {"bogus"},
            "estimate": {"negative"},
            "min_stderr": {"zero"},
        },
        setup=_claims_chapter,
    ),
    "icl.harness.report.toc_chapters": Spec(
        lambda: {"toc_path": str(Path(icl.__file__).parents[1] / "_toc.yml")}
    ),
    "icl.harness.report.check_records": Spec(lambda: {"records": [], "chapters": {}}),
    "icl.harness.report.summary": Spec(lambda: {"records": []}),
    "icl.harness.report.claims_table_html": Spec(
        lambda: {"records": [], "chapters": {}, "page_dir": "book"}, allow={"page_dir": {"bogus"}}
    ),
    "icl.harness.report.measurements_table_html": Spec(
        lambda: {"items": [], "chapters": {}, "page_dir": "book"}, allow={"page_dir": {"bogus"}}
    ),
    "icl.harness.report.package_versions": Spec(
        lambda: {"requirements": str(Path(icl.__file__).parents[1] / "requirements.txt")}
    ),
}

REAL_MATRIX = {"not_binary", "unnormalised", "above_one", "negative"}  # a real matrix, 0/1 or not
F64 = {"mixed_dtype"}  # computed in float64 whatever the input's float dtype (documented)
# Mutations that are valid inputs for these parameters (each answered correctly).
ALSO_VALID = {
    "icl.decoders.coefficient_sampler.sample_coefficients": {"temperature": {"zero"}},  # greedy
    "icl.decoders.sparse_chains.support_codes": {"w": {"bool"}},  # a boolean support is 0/1
    "icl.decoders.answer_distribution.probability_of": {"log_probs": F64, "w": F64},
    "icl.techniques.best_of_n_accuracy": {"log_probs": F64, "scores": F64, "target": F64},
    "icl.techniques.vector_vote_accuracy_3": {"log_probs": F64, "target": F64},
    "icl.techniques.best_of_n_values": {"scores": F64, "values": F64},  # values are only gathered
    "icl.sparse_vote.run_sparse_vote": {"greedy_prompts": {"int"}, "chunk": {"int"}},
    "icl.sparse_vote.sampled_answer_codes": {"chunk": {"int"}},
    # a check or summary that fails (AssertionError) on a valid call is the check's verdict
    "icl.harness.claims.chapter_summary": {"exactly": {"int"}},
    "icl.harness.claims.check": {"theory": {"negative", "zero"}, "estimate": {"negative", "zero"}},
    "icl.harness.claims.check_paired": {
        "simulated": {"int_dtype"} | F64,
        "exact": {"int_dtype"} | F64,
    },
    "icl.harness.claims.measure": {"estimate": {"zero"}},
    "icl.harness.claims.start_chapter": {"chapter": {"bogus"}},  # any name of letters and '-'
    "icl.harness.claims.load_records": {"chapter": {"bogus"}},
    "icl.harness.claims.load_measurements": {"chapter": {"bogus"}},
    "icl.harness.claims.record_files": {"chapter": {"bogus"}},
    "icl.harness.montecarlo.Estimate.from_values": {"values": {"int_dtype"}, "seed": {"int"}},
    "icl.harness.report.check_records": {"records": {"empty"}},
    "icl.harness.report.summary": {"records": {"empty"}},
    "icl.harness.report.claims_table_html": {"records": {"empty"}},
    "icl.harness.report.measurements_table_html": {"items": {"empty"}},
    "icl.models.linear_attention.LinearSelfAttention.from_preconditioner": {"gamma": REAL_MATRIX},
    "icl.models.softmax_transformer.CoefficientDecoder.answer_inputs": {"position": {"zero"}},
    "icl.models.softmax_transformer.CoefficientDecoder.forward": {"signs": F64},
    "icl.models.softmax_transformer.CoefficientDecoder.step": {"prefix": {"none"}},  # position 0
    "icl.models.thought_transformer.embed_thoughts": {"thoughts": REAL_MATRIX},
    "icl.models.thought_transformer.ThoughtTransformer.next_thoughts": {"thoughts": REAL_MATRIX},
    "icl.models.training.fresh_prompts": {"weight": REAL_MATRIX | {"empty", "nan", "inf"}},
    "icl.theory.best_of_n.in_context_limit_risk": {"tau": {"zero"}},
    "icl.theory.best_of_n.oracle_gaussian_risk": {"tau": {"zero"}},
    "icl.theory.binary_decoding.majority_vote_accuracy": {"p": {"zero"}},
    "icl.theory.one_step.one_step_risk": {"eta": {"negative", "zero"}},  # a quadratic in eta
    "icl.theory.gradient_descent.gd_filter": {"steps": {"none"}},  # None: the ridge limit
    "icl.theory.gradient_descent.gd_risk_given_spectrum": {"steps": {"none"}},
    "icl.theory.gradient_descent.gd_risk_given_X": {"steps": {"none"}},
    "icl.theory.noisy_chains.gaussian_fourth_moment": {"M": REAL_MATRIX},
    "icl.theory.sparse_chains.step_weights": {"w": REAL_MATRIX},
    "icl.theory.sparse_chains.draw_set_probability": {
        "support": {"extra_dim"},  # broadcasts
        "weights": {"unnormalised", "above_one"},  # need not be normalised
    },
    **{
        f"icl.theory.wishart.{f}": {"T": {"zero"}}
        for f in (
            "expected_gd_risk",
            "expected_gd_risk_marchenko_pastur",
            "gd_divergent_part_laplace",
            "gd_risk_parts",
        )
    },
    "icl.theory.wishart.wishart_linear_statistic": {"upper": {"int"}},
    # the validators' own settings are literals of the package, not user input
    "icl.validation.integer": {"minimum": {"*"}, "maximum": {"*"}},
    "icl.validation.real": {"minimum": {"*"}, "strict": {"*"}, "value": {"zero"}},
    "icl.validation.choice": {"options": {"*"}},
    "icl.validation.generator": {"required": {"*"}},
    "icl.validation.probabilities": {"dim": {"*"}, "normalised": {"*"}, "value": {"numpy", "list"}},
    "icl.validation.log_probabilities": {"name": NAME_OK, "dim": {"*"}},
    "icl.validation.binary": {"value": {"bool"}},
    "icl.validation.tensor": {"value": {"not_sign", "zero"}},
    "icl.validation.array": {"value": {"negative"}},
}


# --- icl.theory.budget (Chapter 8); small design samples keep each case fast ---
BUDGET_CHAINS = dict(n=8, d=5, sigma2=0.5, eta=0.1, level=0.5)
SPECS.update(
    {
        "icl.theory.budget.prompt_averaged_chain_terms": Spec(
            lambda: dict(**BUDGET_CHAINS, steps=20, designs=16), allow={"steps": {"zero"}}
        ),
        "icl.theory.budget.ridge_limit_risk": _theory(**BUDGET_CHAINS),
        "icl.theory.budget.best_split": Spec(
            lambda: {
                "bias2": np.linspace(2.0, 1.0, 21),
                "trace": np.linspace(0.0, 0.1, 21),
                "budget": 50,
            }
        ),
        "icl.theory.budget.compute_optimal_split": _theory(**BUDGET_CHAINS, budget=100, designs=16),
        "icl.theory.budget.best_of_n_kl": _theory(n_samples=4),
        "icl.theory.budget.soft_selection_tilt": Spec(
            lambda: dict(mean=0.2, tau=0.3, beta=0.5, curvature=1.0, center=0.1),
            allow={"curvature": {"zero"}},  # a flat score: no tilt
        ),
        "icl.theory.budget.soft_selection_1d_averaged": _theory(
            beta=0.5, tau=0.3, n=6, sigma2=3.0, eta=6 / 11, reward="in-context loss"
        ),
        "icl.theory.budget.coverage_exponents": _theory(
            n=20, d=10, sigma2=0.25, eta=1.0, temperature=0.5
        ),
        "icl.theory.budget.coverage_miss": _theory(
            k=8, n=20, d=10, sigma2=0.25, eta=1.0, temperature=0.5
        ),
    }
)


# --- icl.theory.per_prompt (Chapter 9) ---
SPECS.update(
    {
        "icl.theory.per_prompt.conditional_chain_terms": Spec(
            lambda: dict(
                X=np.random.default_rng(0).standard_normal((3, 8, 5)),
                sigma2=0.5,
                eta=0.1,
                level=0.5,
                steps=20,
            ),
            # a batch of designs of any leading shape, and entries of any sign
            allow={"steps": {"zero"}, "X": {"extra_dim", "flat", "negative", "zero"}},
        ),
        "icl.theory.per_prompt.allocate_budget": Spec(
            lambda: {
                "bias2": np.tile(np.linspace(2.0, 1.0, 21), (3, 1)),
                "trace": np.tile(np.linspace(0.0, 0.1, 21), (3, 1)),
                "budget": 50.0,
            },
            allow={"budget": {"zero"}},
        ),
        "icl.theory.per_prompt.mixture_vote_accuracy": Spec(
            lambda: {"p": np.array([0.85, 0.35]), "weights": np.array([0.6, 0.4]), "n_samples": 5}
        ),
    }
)


# Callables that take no bad input by construction: no parameters, or records built by the package
# whose fields the functions reading them validate.
def _figure():
    from matplotlib.figure import Figure

    return Figure()


# --- icl.explorers: the update functions draw into a matplotlib Figure; the panels take the same
# parameters as keywords ---
SPECS.update(
    {
        "icl.explorers.one_step_update": Spec(
            lambda: {"fig": _figure(), "n": 12, "d": 4, "sigma2": 0.5}
        ),
        "icl.explorers.chains_update": Spec(
            lambda: {
                "fig": _figure(),
                "n": 12,
                "d": 4,
                "sigma2": 0.5,
                "eta": 0.05,
                "delta2": 0.1,
                "steps": 40,
                "n_chains": 4,
            }
        ),
        "icl.explorers.votes_update": Spec(
            lambda: {
                "fig": _figure(),
                "n": 12,
                "d": 3,
                "sigma2": 0.25,
                "temperature": 1.0,
                "n_votes": 9,
            }
        ),
        "icl.explorers.one_step_panel": Spec(lambda: {"n": 12, "d": 4, "sigma2": 0.5}),
        "icl.explorers.chains_panel": Spec(lambda: {"n": 12, "steps": 40, "n_chains": 4}),
        "icl.explorers.votes_panel": Spec(lambda: {"n": 12, "temperature": 1.0, "n_votes": 9}),
    }
)

# --- icl.harness.chapter_runner, icl.bench, full_run_markdown, draw_without_replacement ---
FAKE_CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
kernelspec:
  display_name: Python 3
  name: python3
---

# A fake chapter

```{code-cell} ipython3
x = 1
```
"""


@functools.cache
def fake_book() -> Path:
    """A book's root in a temporary folder (kept while the process runs) with one chapter of one
    cell, ``book/ch90_fake.md``."""
    root = Path(tempfile.mkdtemp(prefix="icl-bad-input-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "book").mkdir()
    (root / "book" / "ch90_fake.md").write_text(FAKE_CHAPTER)
    return root


def fake_chapter() -> str:
    return str(fake_book() / "book" / "ch90_fake.md")


WORK = dict(gemms={(2, 3, 4, 5): 1}, variates=48, variate_shape=(2, 3, 4), law="normal", passes=5)


def _work():
    from icl.bench import Work

    return Work(**WORK)


def _run_summary():
    chapter = dict(chapter="ch90", status="passed", seconds=1.0, budget=40, checks=0)
    return {
        "device": "cpu",
        "processor": "a processor",
        "memory_gib": 16.0,
        "dtype": "float64",
        "scale": "smoke",
        "python": "3.12.0",
        "torch": "2.0",
        "cuda": None,
        "commit": "abc",
        "date": "2026-01-01T00:00:00+00:00",
        "seconds": 1.0,
        "passed": True,
        "worst_z": None,
        "chapters": [dict(chapter, failed_checks=0, worst_z=None, error=None)],
    }


NEW_FOLDER = {"bogus"}  # an output folder that does not exist yet is created
SPECS.update(
    {
        "icl.validation.path": Spec(
            lambda: {"name": "path", "value": fake_chapter(), "exists": "file"},
            allow={"name": NAME_OK},
        ),
        "icl.harness.chapter_runner.is_chapter": Spec(lambda: {"path": fake_chapter()}),
        # its good call moves this process into the chapter's folder (it runs in the runner's
        # child process): tests/harness runs it
        "icl.harness.chapter_runner.execute": Spec(
            lambda: {"path": fake_chapter()}, good_runs=False
        ),
        # a chapter not listed in BUDGETS gets DEFAULT_BUDGET
        "icl.harness.chapter_runner.budget": Spec(
            lambda: {"chapter": "ch01", "scale": "full"}, allow={"chapter": {"bogus"}}
        ),
        "icl.harness.chapter_runner.run_chapter": Spec(
            lambda: {
                "path": fake_chapter(),
                "out": str(fake_book() / "chapter_run"),
                "seconds": 60.0,
                "env": {**os.environ, "PYTHONPATH": str(ROOT.parent)},
            },
            allow={"out": NEW_FOLDER},
        ),
        "icl.harness.chapter_runner.run_book": Spec(
            lambda: {
                "root": str(fake_book()),
                "out": str(fake_book() / "book_run"),
                "chapters": ["ch90"],
                "budgets": 60.0,
            },
            # no chapter named: every chapter, as with None (the command line's bare --chapters)
            allow={"out": NEW_FOLDER, "chapters": {"empty"}},
        ),
        "icl.harness.chapter_runner.chapter_paths": Spec(
            lambda: {"book": str(fake_book() / "book"), "names": ["ch90"]},
            allow={"names": {"empty", "none"}},  # None or []: every chapter
        ),
        "icl.harness.chapter_runner.published": Spec(
            lambda: {"summary": _run_summary(), "previous": _run_summary()},
            allow={"previous": {"none"}},  # None: nothing published yet
        ),
        "icl.harness.report.full_run_markdown": Spec(
            lambda: {"summary": _run_summary(), "chapters": {"ch90": "book/ch90_fake"}},
            allow={"summary": {"none"}},  # None: no run published yet (the page says so)
        ),
        "icl.bench.Work": Spec(lambda: dict(WORK)),
        "icl.bench.measured_limits": Spec(
            lambda: {
                "work": _work(),
                "dev": torch.device("cpu"),
                "dtype": torch.float64,
                "seed": 0,
            }
        ),
        # weights (..., d): any leading shape, e.g. one row (flat) or an extra batch dimension
        "icl.decoders.sparse_chains.draw_without_replacement": Spec(
            lambda: {
                "weights": torch.rand(3, 5, generator=gen(), dtype=torch.float64) + 0.5,
                "k": 2,
                "generator": gen(1),
            },
            allow={"weights": {"extra_dim", "flat"}},
        ),
    }
)
ALSO_VALID["icl.validation.path"] = {"exists": {"*"}}  # a literal of the package


# Modules whose public callables need no bad-input cases of their own, with the reason.
NO_BAD_INPUT_MODULES = {
    "icl.figures.": "they draw given results; the experiments and closed forms that computed the "
    "results refused bad input",
    "icl.experiments.": "compositions of the declared functions below them, which refuse bad "
    "input passed on; their settings dataclasses validate their own fields",
    "icl.static_explorers.": "the explorers take no parameters; their records (Control, Panel, "
    "Curve, Explorer) are built by them at fixed settings, which the closed forms validate",
    "icl.sweep.": "a sweep's input is its SPEC, which parse_spec validates field by field before "
    "anything runs (tests/test_sweep.py drives it with malformed SPECs); the quantities' closed "
    "forms and samplers validate the values passed on",
}

NO_BAD_INPUT = {
    "icl.theory.budget.ChainTerms": "a record that prompt_averaged_chain_terms builds",
    "icl.theory.budget.BudgetSplit": "a record that compute_optimal_split builds",
    "icl.theory.per_prompt.PromptChainTerms": "a record that conditional_chain_terms builds",
    "icl.theory.per_prompt.Allocation": "a record that allocate_budget builds",
    "icl.runtime.device": "no parameters",
    "icl.runtime.scale": "no parameters (reads ICL_SCALE, validated there)",
    "icl.runtime.settings": "no parameters (reads ICL_SCALE, ICL_DTYPE, ICL_DEVICE)",
    "icl.runtime.model_scale": "no parameters (reads ICL_MODEL_SCALE, validated there)",
    "icl.runtime.one_thread_on_cpu": "no parameters",
    "icl.runtime.processor_name": "no parameters",
    "icl.runtime.describe_run": "no parameters",
    "icl.runtime.book_root": "no parameters",
    "icl.runtime.Timer": "no parameters",
    "icl.runtime.Timer.seconds": "no parameters",
    "icl.harness.claims.claims_dir": "no parameters",
    "icl.harness.claims.measurements_dir": "no parameters",
    "icl.harness.claims.ClaimRecord": "a record that check() builds from validated values",
    "icl.harness.claims.ClaimRecord.summary": "no parameters",
    "icl.harness.claims.Measurement": "a record that measure() builds from validated values",
    "icl.harness.claims.Measurement.summary": "no parameters",
    "icl.harness.montecarlo.Estimate": "a record that estimate_mean/from_values build",
    "icl.bench.Kernel": "a record of the benchmark's own kernels",
    "icl.bench.Kernel.sample_prompts": "reads the kernel's own sizes",
    "icl.bench.Result": "a record that bench.run builds",
    "icl.bench.run": "runs one of the benchmark's own kernels (minutes); kernel checked",
    "icl.bench.main": "a command line (argparse refuses bad arguments)",
    "icl.bench.Work.flops": "no parameters",
    "icl.harness.chapter_runner.ChapterResult": "a record that run_chapter builds",
    "icl.harness.chapter_runner.machine_facts": "no parameters",
    "icl.harness.chapter_runner.main": "a command line (argparse refuses bad arguments)",
    "icl.models.softmax_transformer.main": "a command line (argparse refuses bad arguments)",
    "icl.models.softmax_transformer.save_checkpoint": "writes what train_at_scale returned",
    "icl.models.softmax_transformer.load_checkpoint": "reads a file written by save_checkpoint",
    "icl.models.training.TrainingHistory": "a record that train() builds",
    "icl.sparse_vote.SparseVoteRun": "a record that run_sparse_vote builds",
    "icl.sparse_vote.SparseVoteRun.greedy_right": "no parameters",
    "icl.sparse_vote.SparseVoteRun.single_sample_right": "no parameters",
    "icl.techniques.Selection": "a record that best_of_n builds",
    "icl.theory.wishart.GDRiskParts": "a record that gd_risk_parts builds",
    "icl.tasks.Prompts": "a record that the samplers build; its readers validate X, y and w",
    "icl.models.linear_attention.LinearAttentionWeights.token_width": "abstract",
    "icl.models.linear_attention.LinearAttentionWeights": "abstract (token_width): the layers' "
    "specs cover its arguments",
    **dict.fromkeys(
        [
            f"icl.domain.{name}{method}"
            for name, methods in {
                "Accuracy": (".error", ".bound", ".describe"),
                "Parameter": (".validate", ".describe", ".outside", ".sample"),
                "Integer": (".validate", ".describe", ".outside", ".sample"),
                "Real": (".validate", ".describe", ".describe_range", ".outside", ".sample"),
                "Choice": (".validate", ".describe", ".outside", ".sample"),
                "Flag": (".validate", ".describe", ".outside", ".sample"),
                "Given": (".validate", ".describe", ".outside", ".sample"),
                "Condition": (".holds",),
                "Domain": (".validate", ".describe", ".outside", ".sample"),
                "declare": (),
                "domain_of": (),
                "declared_error": (),
            }.items()
            for method in ("", *methods)
        ],
        "the declarations' own machinery, written by the package (tests/test_domain.py)",
    ),
}


# Where a refusal names the argument otherwise (a validator's ``value`` is reported under its
# ``name``).
ALIASES = {
    f"icl.validation.{f}": {"value"}
    for f in (
        "integer",
        "real",
        "positive",
        "choice",
        "flag",
        "generator",
        "tensor",
        "probabilities",
        "log_probabilities",
        "signs",
        "binary",
        "array",
        "device",
        "module",
        "function",
        "path",
    )
}

# --- the mutations ---


def _first_set(t: torch.Tensor, value) -> torch.Tensor:
    t = t.detach().clone().contiguous()
    t.view(-1)[0] = value
    return t


def mutations(value, default, *, several_tensors: bool, name: str = "") -> dict[str, object]:
    """Bad variants of a good argument ``value`` (``default``: the parameter's default, so that
    ``None`` is not a mutation where ``None`` is the default)."""
    out: dict[str, object] = {}
    if default is not None:
        out["none"] = None
    if isinstance(value, torch.Tensor):
        is_float = value.dtype.is_floating_point
        out["string"] = "x"
        out["numpy"] = value.detach().cpu().numpy()
        out["list"] = value.detach().cpu().tolist()
        out["extra_dim"] = value.unsqueeze(0)
        if value.ndim >= 2:
            out["flat"] = value.reshape(-1)
        if value.ndim >= 1 and value.shape[0] > 0:
            out["empty"] = value[:0]
            if several_tensors:
                out["wrong_size"] = torch.cat([value, value[:1]])  # one more row
        out["complex"] = value.to(torch.complex128)
        out["bool"] = value > 0
        if is_float:
            out["nan"] = _first_set(value, math.nan)
            out["inf"] = _first_set(value, math.inf)
            out["int_dtype"] = value.round().long()
            if several_tensors:
                other = torch.float32 if value.dtype == torch.float64 else torch.float64
                out["mixed_dtype"] = value.to(other)
            if bool((value >= 0).all()):
                out["negative"] = _first_set(value, -0.5)
            if bool(((value == 1) | (value == -1)).all()):
                out["not_sign"] = _first_set(value, 0.5)
                out["zero"] = _first_set(value, 0.0)
            elif bool(((value == 0) | (value == 1)).all()):
                out["not_binary"] = _first_set(value, 0.5)
            if (
                bool((value <= 0).all())
                and value.ndim
                and bool((torch.logsumexp(value.double(), -1).abs() < 1e-6).all())
            ):
                out["unnormalised"] = value + 0.5
            elif (
                bool((value >= 0).all())
                and bool((value <= 1).all())
                and bool((value.sum(-1) - 1).abs().max() < 1e-6)
            ):
                out["unnormalised"] = value * 0.5
            if "unnormalised" in out or name in ("p", "probs"):
                out["above_one"] = _first_set(value, 1.5)
        else:
            out["float_dtype"] = value.double() + 0.5
    elif isinstance(value, np.ndarray):
        out["string"] = "x"
        out["empty"] = value[:0]
        out["complex"] = value.astype(complex)
        if value.dtype.kind == "f":
            out["nan"] = np.where(np.arange(value.size).reshape(value.shape) == 0, np.nan, value)
            out["inf"] = np.where(np.arange(value.size).reshape(value.shape) == 0, np.inf, value)
        if (value >= 0).all():
            out["negative"] = np.where(np.arange(value.size).reshape(value.shape) == 0, -1, value)
        out["extra_dim"] = value[None]
        if value.dtype.kind == "f" and (value >= 0).all() and abs(value.sum() - 1) < 1e-9:
            out["unnormalised"] = value * 0.5
        if value.dtype.kind in "iu":
            out["float_dtype"] = value + 0.5
    elif isinstance(value, torch.Generator):
        out["int"] = 0
        out["numpy_rng"] = np.random.default_rng(0)
    elif isinstance(value, bool):
        out["string"] = "yes"
    elif isinstance(value, int):
        out.update(string=str(value), fractional=value + 0.5, bool=True, negative=-1, nan=math.nan)
        if value != 0:
            out["zero"] = 0
    elif isinstance(value, float):
        out.update(string=str(value), nan=math.nan, inf=math.inf, complex=complex(value, 1.0))
        if value >= 0:
            out["negative"] = -1.0 - value
        if value > 0:
            out["zero"] = 0.0
    elif isinstance(value, str):
        out["int"] = 3
        out["bogus"] = "no-such-option"
    elif isinstance(value, list):
        out["empty"] = []
        out["string"] = "x"
        if value and all(isinstance(v, int) for v in value):
            out["zero_entry"] = [0, *value[1:]]
            out["fractional_entry"] = [value[0] + 0.5, *value[1:]]
    elif isinstance(value, dict):
        out["string"] = "x"
    elif isinstance(value, torch.dtype):
        out["int_dtype"] = torch.int64
        out["string"] = "float64"
    elif isinstance(value, torch.device):
        out["string"] = "no-such-device"
    elif callable(value) or isinstance(value, torch.nn.Module | torch.optim.Optimizer | object):
        out["string"] = "x"
        out["int"] = 3
    return out


@dataclass
class Case:
    name: str
    parameter: str
    kind: str
    outcome: str  # "refused", "vague" (not naming the argument), "answered", "error", "hang"
    detail: str = ""


def _names(message: str, parameter: str, name: str) -> bool:
    """Whether ``message`` names ``parameter``, or (a mismatch between two arguments) another
    parameter of ``name``."""
    if re.search(rf"\b{re.escape(parameter)}\b", message) or parameter in ALIASES.get(name, {}):
        return True
    try:
        others = inspect.signature(resolve(name)).parameters
    except (TypeError, ValueError):
        return False
    return any(other != "self" and re.search(rf"\b{other}\b", message) for other in others)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def cases_of(name: str) -> list[tuple[str, str, callable]]:
    """``(parameter, kind, call)`` for each bad input of ``name``'s spec."""
    spec = SPECS[name]
    fn = resolve(name)
    good = spec.good()
    tensors = sum(isinstance(v, torch.Tensor) and v.dtype.is_floating_point for v in good.values())
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    result = []
    for parameter, value in good.items():
        if parameter == "self":
            continue
        allowed = (
            spec.allow.get(parameter, set())
            | VALID_BY_NAME.get(parameter, set())
            | ALSO_VALID.get(name, {}).get(parameter, set())
        )
        if "*" in allowed:
            continue
        default = params[parameter].default if parameter in params else inspect.Parameter.empty
        default = inspect.Parameter.empty if default is inspect.Parameter.empty else default
        for kind, bad in mutations(
            value, default, several_tensors=tensors > 1, name=parameter
        ).items():
            if kind in allowed:
                continue

            def call(parameter=parameter, bad=bad):
                if spec.setup is not None:
                    spec.setup()
                kwargs = spec.good()
                kwargs[parameter] = bad
                return fn(**kwargs)

            result.append((parameter, kind, call))
    return result + _declared_cases(spec, fn)


def _declared_cases(spec: Spec, fn) -> list[tuple[str, str, callable]]:
    """The cases that ``fn``'s declaration (:mod:`icl.domain`) generates: each argument just
    outside its declared range, and each joint condition's violating example."""
    domain = domain_of(fn)
    if domain is None:
        return []
    result = []
    for parameter, bad_values in domain.outside().items():
        for kind, bad in bad_values.items():
            changes = bad if parameter == "where" else {parameter: bad}
            named = next(iter(changes)) if parameter == "where" else parameter

            def call(changes=changes):
                if spec.setup is not None:
                    spec.setup()
                return fn(**{**spec.good(), **changes})

            result.append((named, f"declared {kind}", call))
    return result


def run_case(name: str, parameter: str, kind: str, call) -> Case:
    """Run one bad input with a time limit; classify what happened."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        with tempfile.TemporaryDirectory() as tmp, _claims_dir(tmp):
            call()
        outcome, detail = "answered", ""
    except _Hang:
        outcome, detail = "hang", f"> {CASE_SECONDS} s"
    except (ValueError, TypeError) as error:
        # a refusal names the argument (a bare "missing argument" TypeError of a bug would not)
        named = _names(str(error), parameter, name)
        outcome = "refused" if named else "vague"
        detail = f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - classified and reported
        outcome, detail = "error", f"{type(error).__name__}: {error}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Case(name, parameter, kind, outcome, detail[:300])


class _claims_dir:
    """Point ``ICL_CLAIMS_DIR`` at a temporary folder, so cases never touch the book's records."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        import os

        self.old = os.environ.get("ICL_CLAIMS_DIR")
        os.environ["ICL_CLAIMS_DIR"] = self.path

    def __exit__(self, *exc):
        import os

        if self.old is None:
            os.environ.pop("ICL_CLAIMS_DIR", None)
        else:
            os.environ["ICL_CLAIMS_DIR"] = self.old


def run_good(name: str) -> None:
    """The good call of ``name``'s spec (it must be answered, or its cases test nothing)."""
    spec = SPECS[name]
    if not spec.good_runs:
        return
    if spec.setup is not None:
        spec.setup()
    with tempfile.TemporaryDirectory() as tmp, _claims_dir(tmp):
        resolve(name)(**spec.good())


def run_all(names=None) -> list[Case]:
    """Every bad input of every spec (or of ``names``), after checking its good call."""
    cases = []
    for name in names or sorted(SPECS):
        run_good(name)
        cases += [run_case(name, *case) for case in cases_of(name)]
    return cases


def census(cases: list[Case]) -> dict[str, int]:
    """Counts: public callables, those with a spec, bad-input cases, and their outcomes."""
    counts = {
        "public_callables": len(public_callables()),
        "with_spec": len(SPECS),
        "without_bad_input": len(NO_BAD_INPUT),
        "cases": len(cases),
    }
    for outcome in ("refused", "vague", "answered", "error", "hang"):
        counts[outcome] = sum(c.outcome == outcome for c in cases)
    counts["ValueError"] = sum(c.detail.startswith("ValueError") for c in cases)
    counts["TypeError"] = sum(c.detail.startswith("TypeError") for c in cases)
    return counts


__all__ = ["SPECS", "NO_BAD_INPUT", "NO_BAD_INPUT_MODULES", "census", "run_all", "runtime"]
