"""Shared fixtures: one tiny end-to-end run (seconds) reused by every test that needs a model and an SAE."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder made by the quick demo: data/, model/, acts/<hook>/, sae/, eval/, summary.json."""
    from monoscope.demo import QUICK, run_demo

    out = tmp_path_factory.mktemp("tiny_run")
    summary = run_demo(out, QUICK, progress=False)
    return out, summary


@pytest.fixture(scope="session")
def hf_run(tmp_path_factory):
    """hf_run(family): a run folder on a tiny Hugging Face model (model/, data/, sae/ on blocks.0.mlp.hook_post),
    built once per family (tests/models/hf_tiny_models.py)."""
    pytest.importorskip("transformers")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "models"))
    from hf_tiny_models import save_tiny_run

    made = {}

    def get(family: str):
        if family not in made:
            made[family] = save_tiny_run(family, tmp_path_factory.mktemp(f"hf_run_{family}"))
        return made[family]

    return get


@pytest.fixture(scope="session")
def two_layer(tmp_path_factory):
    """A tiny 2-layer built-in GPT trained a few steps, and a skip transcoder (ReLU) for each MLP:
    (folder, dataset, model, [transcoder L0, transcoder L1]); folder holds data/, model/, transcoders/L<layer>/."""
    from monoscope.data.dataset import DataConfig, build_dataset
    from monoscope.models.train import ModelTrainConfig, train_model
    from monoscope.models.transformer import GPTConfig
    from monoscope.sae import SAEConfig, TrainConfig
    from monoscope.sae.transcoders import train_transcoders

    out = tmp_path_factory.mktemp("two_layer")
    ds = build_dataset(out / "data", DataConfig(vocab_size=512, n_ctx=32, builtin_scale=0.03))
    gpt = GPTConfig(vocab_size=512, n_ctx=32, d_model=32, n_layers=2, n_heads=2, d_mlp=64, model_name="tiny-2l")
    train = ModelTrainConfig(gpt, steps=60, batch_size=16, eval_every=30, checkpoint_every=30)
    model = train_model(ds, out / "model", train, progress=False)
    cfg = TrainConfig(
        SAEConfig("relu", 32, 128, d_out=32, skip=True), total_vectors=40_000, batch_size=256, sparsity_coef=1.0
    )
    tcs = train_transcoders(model, ds, out / "transcoders", cfg, 20_000, model_name="tiny-2l", progress=False)
    return out, ds, model, tcs
