"""On-the-fly activations: one forward pass feeds several hooks, aligned, shuffled, and several SAEs train from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from monoscope.activations.online import OnlineActivations, OnlineConfig
from monoscope.data.dataset import TokenSplit
from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.models import GPT, GPTConfig
from monoscope.sae import SAEConfig, TrainConfig, load_sae
from monoscope.sae.online import Job, train_online

HOOKS = ["blocks.0.hook_resid_mid", "blocks.0.hook_mlp_out", "blocks.0.hook_resid_post"]


class TinyData:
    def __init__(self, folder: Path, n: int = 48, ctx: int = 12):
        g = torch.Generator().manual_seed(0)
        self.folder = folder
        self.meta = {"prepend_bos": True}
        t = torch.randint(1, 200, (n, ctx), generator=g)
        t[:, 0] = 0
        pos = torch.arange(ctx).expand(n, -1) - 1
        self._split = TokenSplit(t, torch.arange(n)[:, None].expand(-1, ctx), pos)
        self.positions = Positions((0,))  # BOS id 0 at position 0 and nowhere else

    def split(self, name):
        return self._split


@pytest.fixture()
def setup(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=200, n_ctx=12, d_model=16, d_mlp=32, n_heads=2)).eval()
    return model, TinyData(tmp_path)


def test_hooks_aligned_and_mixed(setup):
    model, data = setup
    src = OnlineActivations(model, data, OnlineConfig(hooks=HOOKS, batch_contexts=8, buffer_vectors=256))
    batch = next(src.stream(64, seed=1))
    assert all(batch[h].shape == (64, 16) for h in HOOKS)
    # the same token in every hook: resid_post = resid_mid + mlp_out row by row
    torch.testing.assert_close(batch[HOOKS[2]], batch[HOOKS[0]] + batch[HOOKS[1]])
    # every vector is a real one, BOS excluded, and one batch mixes many contexts
    _, cache = model.run_with_cache(data.split("train").tokens, names=[HOOKS[2]])
    full = cache[HOOKS[2]]
    d = torch.cdist(batch[HOOKS[2]], full[:, 1:].reshape(-1, 16))
    assert d.min(1).values.max() < 1e-4
    contexts = {int(i) // 11 for i in d.argmin(1)}
    assert len(contexts) > 8
    with pytest.raises(MonoscopeError, match="not read by this source"):
        src.view("blocks.0.hook_resid_pre")


def test_train_two_saes_from_one_pass(setup, tmp_path):
    model, data = setup
    src = OnlineActivations(
        model,
        data,
        OnlineConfig(hooks=HOOKS[:2], batch_contexts=8, buffer_vectors=512, norm_samples=512),
        model_name="tiny",
    )
    assert [src.d_in(h) for h in HOOKS[:2]] == [16, 16]
    calls = {"n": 0, "sampling": False}
    orig, orig_sample = src.forward, src.sample

    def counting(rows):  # forward passes of the training stream (not of init/resampling samples)
        calls["n"] += not calls["sampling"]
        return orig(rows)

    def sampling(*args, **kw):
        calls["sampling"] = True
        try:
            return orig_sample(*args, **kw)
        finally:
            calls["sampling"] = False

    src.forward, src.sample = counting, sampling
    cfg = dict(
        total_vectors=64 * 16,
        batch_size=64,
        lr=3e-3,
        sparsity_coef=1.0,
        log_every=5,
        resample_at=(),
        resample_samples=512,
    )
    jobs = [Job(h, tmp_path / h, TrainConfig(sae=SAEConfig("relu", 16, 32), **cfg)) for h in HOOKS[:2]]
    train_online(src, jobs, progress=False)
    passes_for_two = calls["n"]
    for j in jobs:
        sae = load_sae(j.out)
        assert sae.cfg.metadata["hook_name"] == j.hook and sae.cfg.metadata["context_size"] == 12
        assert sae.cfg.metadata["prepend_bos"] is True and sae.cfg.metadata["model_name"] == "tiny"
        recs = [json.loads(line) for line in (Path(j.out) / "metrics.jsonl").read_text().splitlines()]
        assert recs[-1]["mse"] < recs[0]["mse"]
    # one SAE alone needs as many forward passes as two together: they share them
    calls["n"] = 0
    train_online(
        src, [Job(HOOKS[0], tmp_path / "alone", TrainConfig(sae=SAEConfig("relu", 16, 32), **cfg))], progress=False
    )
    assert calls["n"] == passes_for_two
    with pytest.raises(MonoscopeError, match="d_in=8 does not match"):
        train_online(
            src, [Job(HOOKS[0], tmp_path / "bad", TrainConfig(sae=SAEConfig("relu", 8, 32), **cfg))], progress=False
        )
