import numpy as np
import pytest
import torch

from icl.models import softmax_transformer as st

TINY = st.DecoderConfig(d=3, n=6, sigma2=1.0, width=16, layers=1, heads=2)


def test_config_errors():
    with pytest.raises(ValueError, match="width"):
        st.DecoderConfig(d=3, n=6, sigma2=1.0, width=10, heads=4)
    with pytest.raises(ValueError, match="sigma2"):
        st.DecoderConfig(d=3, n=6, sigma2=-1.0)
    with pytest.raises(ValueError, match="d"):
        st.DecoderConfig(d=0, n=6, sigma2=1.0)
    with pytest.raises(TypeError, match="config"):
        st.CoefficientDecoder({"d": 3})
    with pytest.raises(ValueError, match="seed"):
        st.CoefficientDecoder(TINY, seed=-1)


def test_forward_shape_seed_and_causality(draw_prompts):
    model = st.CoefficientDecoder(TINY, seed=3)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.parameters(), st.CoefficientDecoder(TINY, seed=3).parameters())
    )
    p = draw_prompts(4, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    logits = model(p.X, p.y, p.w)
    assert logits.shape == (4, 3, 2)
    flipped = p.w.clone()
    flipped[:, 1:] *= -1
    other = model(p.X, p.y, flipped)
    assert torch.allclose(logits[:, 0], other[:, 0]) and torch.allclose(logits[:, 1], other[:, 1])
    assert not torch.allclose(logits[:, 2], other[:, 2])
    with pytest.raises(ValueError, match="signs"):
        model(p.X, p.y, p.w[:, :2])
    with pytest.raises(ValueError, match="X"):
        model(p.X[..., :2], p.y, p.w)


def test_step_matches_forward(draw_prompts):
    model = st.CoefficientDecoder(TINY, seed=1)
    p = draw_prompts(4, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    with torch.no_grad():
        full = model(p.X, p.y, p.w)
        context, prefix = model.encode(p.X, p.y), None
        for j in range(TINY.d):
            inputs = model.answer_inputs(None if j == 0 else p.w[:, j - 1 : j], j).expand(4, 1, -1)
            logits, prefix = model.step(inputs, context, prefix)
            assert torch.allclose(logits[:, 0], full[:, j], atol=1e-5)


def test_training_decreases_loss_and_is_repeatable():
    training = st.TrainingConfig(steps=60, batch=64, lr=1e-2, warmup=5)
    runs = []
    for _ in range(2):
        model = st.CoefficientDecoder(TINY, seed=0)
        runs.append((model, st.train_coefficient_decoder(model, training, seed=1)))
    (model, history), (_, again) = runs
    assert history.loss.shape == (60,)
    assert np.array_equal(history.loss, again.loss)
    assert history.loss[-10:].mean() < history.loss[:5].mean() - 0.05
    with pytest.raises(TypeError, match="training"):
        st.train_coefficient_decoder(model, {"steps": 1}, seed=0)
    with pytest.raises(ValueError, match="steps"):
        st.train_coefficient_decoder(model, st.TrainingConfig(steps=0, batch=4), seed=0)


def test_checkpoint_round_trip(tmp_path, draw_prompts):
    model = st.CoefficientDecoder(TINY, seed=2)
    training = st.TrainingConfig(steps=3, batch=8)
    history = st.train_coefficient_decoder(model, training, seed=0)
    path = tmp_path / "tiny.pt"
    st.save_checkpoint(path, model, training, history, seed=2, command="test")
    loaded, meta = st.load_checkpoint(path)
    p = draw_prompts(4, TINY.n, TINY.d, prior="rademacher", sigma2=TINY.sigma2, dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(model(p.X, p.y, p.w), loaded(p.X, p.y, p.w))
    assert (
        meta["config"] == TINY
        and meta["training"] == training
        and meta["seed"] == 2
        and meta["command"] == "test"
    )
    assert np.allclose(meta["loss"].numpy(), history.loss)
    with pytest.raises(ValueError, match="path"):
        st.load_checkpoint(tmp_path / "missing.pt")


def test_command_line_writes_a_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(st.SCALES, "smoke", (TINY, st.TrainingConfig(steps=4, batch=8, warmup=1)))
    out = tmp_path / "cli.pt"
    st.main(["--out", str(out), "--scale", "smoke", "--seed", "5"])
    loaded, meta = st.load_checkpoint(out)
    assert meta["seed"] == 5 and meta["command"].endswith("--scale smoke --seed 5")
    reference, _, _ = st.train_at_scale("smoke", 5, device="cpu")
    assert all(
        torch.equal(a, b)
        for a, b in zip(loaded.state_dict().values(), reference.state_dict().values())
    )
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(ValueError, match="scale"):
        st.train_at_scale("huge", 0)
