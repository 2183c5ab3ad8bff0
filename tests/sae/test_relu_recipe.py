"""The seed's SAE and Bricken et al.'s recipe, checked piece by piece."""

import json

import pytest
import torch
from synthetic_features import synthetic

from monoscope.errors import MonoscopeError
from monoscope.sae import SAEConfig, SAETrainer, TrainConfig, load_sae, save_sae
from monoscope.sae.geometric_median import geometric_median
from monoscope.sae.relu import ReLUSAE


def test_forward_matches_the_seed_equations():
    sae = ReLUSAE(SAEConfig("relu", 8, 32))
    with torch.no_grad():
        sae.b_dec.normal_()
        sae.b_enc.normal_()
    x = torch.randn(5, 8)
    f = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    assert torch.allclose(sae.encode(x), f, atol=1e-6)
    assert torch.allclose(sae(x), f @ sae.W_dec + sae.b_dec, atol=1e-6)
    out = sae.loss(x, sparsity_coef=2.0)
    assert torch.allclose(out.total, ((sae(x) - x) ** 2).sum(-1).mean() + 2.0 * f.sum(-1).mean(), atol=1e-4)


def test_step_keeps_unit_decoder_rows_and_drops_parallel_gradient():
    x, _ = synthetic(512)
    tr = SAETrainer(
        TrainConfig(
            sae=SAEConfig("relu", 16, 64), total_vectors=512 * 5, batch_size=512, b_dec_init="zeros", resample_at=()
        )
    )
    sae = tr.sae
    loss = sae.loss(x, 1.0).total
    loss.backward()
    sae.remove_parallel_grad()
    assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-5
    tr.step(x)
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(64), atol=1e-5)


def test_geometric_median_resists_outliers():
    pts = torch.cat([torch.randn(200, 3) * 0.1, torch.full((20, 3), 100.0)])
    gm = geometric_median(pts)
    assert gm.norm() < 1.0 < pts.mean(0).norm()


def test_resampling_revives_dead_latents_towards_badly_reconstructed_inputs():
    x, _ = synthetic(4096)
    cfg = TrainConfig(
        sae=SAEConfig("relu", 16, 64), total_vectors=4096 * 10, batch_size=512, resample_at=(0.5,), dead_window=1024
    )
    tr = SAETrainer(cfg, sample_fn=lambda n, seed: x[:n])
    with torch.no_grad():
        tr.sae.b_enc[:10] = -1e3  # ten latents that can never fire
    for i in range(4):
        tr.step(x[i * 512 : (i + 1) * 512])
    assert (tr.since_fired[:10] >= 1024).all()
    revived = tr.resample()
    assert revived >= 10
    assert (tr.sae.b_enc[:10] == 0).all()
    assert torch.allclose(tr.sae.W_dec[:10].norm(dim=1), torch.ones(10), atol=1e-5)
    assert (tr.opt.state[tr.sae.b_enc]["exp_avg"][:10] == 0).all()


def test_training_recovers_synthetic_features():
    x, dirs = synthetic(40_000, n_feat=32, active=2, seed=1)
    cfg = TrainConfig(
        sae=SAEConfig("relu", 16, 96),
        total_vectors=40_000 * 3,
        batch_size=400,
        lr=3e-3,
        sparsity_coef=1.0,
        resample_at=(0.2, 0.4),
    )
    tr = SAETrainer(
        cfg, sample_fn=lambda n, seed: x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]
    )
    for step in range(cfg.steps):
        i = (step * 400) % len(x)
        rec = tr.step(x[i : i + 400])
    assert rec["fvu"] < 0.5 and rec["l0"] < 6
    cos = (dirs @ tr.sae.W_dec.T).max(1).values
    assert cos.mean() > 0.95


def test_folded_scale_and_saelens_layout_round_trip(tmp_path):
    sae = ReLUSAE(SAEConfig("relu", 8, 16, metadata={"hook_name": "blocks.0.mlp.hook_post"}))
    with torch.no_grad():
        sae.b_dec.normal_()
        sae.b_enc.normal_()
    x = torch.randn(10, 8)
    s = 3.7
    scaled_out = sae(x * s) / s
    sae.fold_input_scale(s)
    assert torch.allclose(sae(x), scaled_out, atol=1e-5)
    save_sae(sae, tmp_path, sparsity=torch.full((16,), 0.01))
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["architecture"] == "standard" and cfg["d_in"] == 8 and cfg["d_sae"] == 16
    assert cfg["metadata"]["hook_name"] == "blocks.0.mlp.hook_post"
    from safetensors.torch import load_file

    w = load_file(tmp_path / "sae_weights.safetensors")
    assert (
        w["W_enc"].shape == (8, 16)
        and w["W_dec"].shape == (16, 8)
        and w["b_enc"].shape == (16,)
        and w["b_dec"].shape == (8,)
    )
    assert torch.allclose(load_file(tmp_path / "sparsity.safetensors")["sparsity"], torch.full((16,), -2.0), atol=1e-5)
    assert torch.allclose(load_sae(tmp_path)(x), sae(x), atol=1e-6)


def test_bad_sae_inputs(tmp_path):
    with pytest.raises(MonoscopeError, match="known: .*relu"):
        SAEConfig("nope", 8, 16)
    with pytest.raises(MonoscopeError, match="non-negative"):
        TrainConfig(sae=SAEConfig("relu", 8, 16), sparsity_coef=-1)
    tr = SAETrainer(TrainConfig(sae=SAEConfig("relu", 8, 16), total_vectors=100, batch_size=10, b_dec_init="zeros"))
    with pytest.raises(MonoscopeError, match="NaN"):
        tr.step(torch.full((10, 8), float("nan")))
    sae = ReLUSAE(SAEConfig("relu", 8, 16))
    save_sae(sae, tmp_path)
    import pickle

    (tmp_path / "sae_weights.safetensors").write_bytes(pickle.dumps({"W_enc": 1}))
    with pytest.raises(MonoscopeError, match="never unpickles"):
        load_sae(tmp_path)
    save_sae(sae, tmp_path)
    from safetensors.torch import save_file

    save_file(
        {"W_enc": torch.zeros(8, 17), "b_enc": torch.zeros(16), "W_dec": torch.zeros(16, 8), "b_dec": torch.zeros(8)},
        tmp_path / "sae_weights.safetensors",
    )
    with pytest.raises(MonoscopeError, match=r"'W_enc' has shape \[8, 17\], expected \[8, 16\]"):
        load_sae(tmp_path)
