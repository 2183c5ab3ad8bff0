import pytest
import torch

from monoscope.data.dataset import Dataset
from monoscope.models import GPTConfig
from monoscope.models import train as train_mod
from monoscope.models.train import ModelTrainConfig, train_model


def _cfg(ds, steps=8):
    return ModelTrainConfig(
        model=GPTConfig(vocab_size=ds.meta["vocab_size"], n_ctx=ds.meta["n_ctx"], d_model=32, d_mlp=64, n_heads=2),
        steps=steps,
        batch_size=8,
        eval_every=4,
        checkpoint_every=3,
        eval_contexts=8,
    )


def test_training_lowers_loss_and_resumes_to_identical_weights(tiny_run, tmp_path, monkeypatch):
    out, _ = tiny_run
    ds = Dataset(out / "data")
    full = train_model(ds, tmp_path / "a", _cfg(ds), progress=False)
    recs = [line for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert len(recs) == 8

    # interrupt after step 7 (a checkpoint exists at step 6), then run the same command again
    real = train_mod._checkpoint
    calls = {"n": 0}

    def crash_after_second(path, model, opt, step):
        real(path, model, opt, step)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_checkpoint", crash_after_second)
    with pytest.raises(KeyboardInterrupt):
        train_model(ds, tmp_path / "b", _cfg(ds), progress=False)
    assert (tmp_path / "b" / "train_state.pt").exists()
    monkeypatch.setattr(train_mod, "_checkpoint", real)
    resumed = train_model(ds, tmp_path / "b", _cfg(ds), progress=False)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_loss_decreases(tiny_run, tmp_path):
    import json

    out, _ = tiny_run
    ds = Dataset(out / "data")
    train_model(ds, tmp_path / "m", _cfg(ds, steps=30), progress=False)
    recs = [json.loads(line) for line in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["loss"] for r in recs[-5:]) / 5 < sum(r["loss"] for r in recs[:5]) / 5 - 0.2


def test_resume_survives_a_torn_metrics_line_and_refuses_a_bad_checkpoint(tiny_run, tmp_path, monkeypatch):
    import json

    from monoscope.errors import MonoscopeError

    out, _ = tiny_run
    ds = Dataset(out / "data")
    real = train_mod._checkpoint

    def crash(path, model, opt, step):
        real(path, model, opt, step)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        train_model(ds, tmp_path / "m", _cfg(ds), progress=False)
    monkeypatch.setattr(train_mod, "_checkpoint", real)
    metrics = tmp_path / "m" / "metrics.jsonl"
    with open(metrics, "a") as fh:
        fh.write('{"step": 4, "loss": 5.')  # the process died inside an append
    train_model(ds, tmp_path / "m", _cfg(ds), progress=False)
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == list(range(1, 9))

    monkeypatch.setattr(train_mod, "_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        train_model(ds, tmp_path / "n", _cfg(ds), progress=False)
    state = tmp_path / "n" / "train_state.pt"
    state.write_bytes(state.read_bytes()[:200])
    with pytest.raises(MonoscopeError, match=r"model checkpoint .*train_state.pt is unreadable.*--overwrite"):
        train_model(ds, tmp_path / "n", _cfg(ds), progress=False)
