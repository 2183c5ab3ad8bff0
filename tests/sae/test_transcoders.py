"""Transcoders: every transcoding architecture in SAELens's transcoder layout (through the real sae-lens), trained
from a store of both MLP ends, evaluated with every MLP replaced, and refused where they do not fit."""

import importlib.util
import json

import pytest
import torch

from monoscope.activations import HarvestConfig, harvest
from monoscope.errors import MonoscopeError
from monoscope.evals.transcoders import evaluate_transcoders
from monoscope.sae import ARCHITECTURES, SAEConfig, TrainConfig, load_sae, make_sae, save_sae, train_sae
from monoscope.sae.splice import check_transcoder

HAVE_SAELENS = importlib.util.find_spec("sae_lens") is not None
TRANSCODING = [(a, {"k": 4} if c.needs_k else {}) for a, c in sorted(ARCHITECTURES.items()) if c.transcodes]


def perturbed(arch, kw, skip, seed=0):
    torch.manual_seed(seed)
    tc = make_sae(SAEConfig(arch, 16, 64, d_out=12, skip=skip, **kw))
    with torch.no_grad():
        for p in tc.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for name, b in tc.named_buffers():
            if name == "threshold":  # BatchTopK's, not estimated before training
                b.fill_(0.2)
    return tc.eval()


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("arch,kw", TRANSCODING)
def test_transcoder_round_trip_keeps_the_function(arch, kw, skip, tmp_path):
    tc = perturbed(arch, kw, skip)
    save_sae(tc, tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["d_out"] == 12 and cfg["apply_b_dec_to_input"] is False
    assert ("skip_" in cfg["architecture"]) == skip and cfg["architecture"].endswith("transcoder")
    back = load_sae(tmp_path)
    assert back.cfg.is_transcoder and back.cfg.skip == skip
    x = torch.randn(20, 16)
    assert tc(x).shape == (20, 12)
    assert torch.allclose(back(x), tc(x), atol=1e-5)


@pytest.mark.skipif(not HAVE_SAELENS, reason="sae-lens is not installed (pip install -e '.[bench]')")
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("arch,kw", TRANSCODING)
def test_real_saelens_reads_our_transcoders_and_we_read_theirs(arch, kw, skip, tmp_path):
    from sae_lens import SAE
    from sae_lens.registry import SAE_CLASS_REGISTRY

    tc = perturbed(arch, kw, skip, seed=1)
    save_sae(tc, tmp_path / "ours")
    name = json.loads((tmp_path / "ours" / "cfg.json").read_text())["architecture"]
    if name not in SAE_CLASS_REGISTRY:
        pytest.skip(f"SAELens has no {name!r} architecture (it has no TopK transcoder)")
    theirs = SAE.load_from_disk(str(tmp_path / "ours"))
    assert type(theirs).__name__.endswith("Transcoder")
    x = torch.randn(20, 16)
    assert torch.allclose(theirs.encode(x), tc.encode(x), atol=1e-5)
    assert torch.allclose(theirs(x), tc(x), atol=1e-5)
    theirs.save_model(str(tmp_path / "theirs"))
    assert torch.allclose(load_sae(tmp_path / "theirs")(x), tc(x), atol=1e-5)


def test_transcoders_replace_both_mlps_and_recover_most_of_the_loss(two_layer):
    _, ds, model, tcs = two_layer
    r = evaluate_transcoders(model, tcs, ds.split("train").tokens[:32], ds.positions, progress=False)
    assert [layer["hook_out"] for layer in r["layers"]] == ["blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out"]
    assert r["ce_zero_ablated"] > r["ce_replaced"]
    assert 0.5 < r["loss_recovered"] <= 1.05
    assert all(0 < layer["fvu"] < 0.5 and 0 < layer["l0"] < 64 for layer in r["layers"])
    assert tcs[1].cfg.metadata["hook_name_out"] == "blocks.1.hook_mlp_out"


def test_a_transcoder_trains_from_a_store_of_both_ends(two_layer, tmp_path):
    _, ds, model, _ = two_layer
    store = harvest(
        model,
        ds,
        tmp_path / "acts",
        HarvestConfig(hook="blocks.0.mlp.hook_in", target_hook="blocks.0.hook_mlp_out", max_tokens=3000),
        progress=False,
    )
    assert store.widths == [32, 32] and store.target_hook == "blocks.0.hook_mlp_out"
    _, cache = model.run_with_cache(ds.split("train").tokens[:1], names=["blocks.0.hook_mlp_out"])
    assert torch.allclose(store.read([0])[0, 32:], cache["blocks.0.hook_mlp_out"][0, 1], atol=1e-6)
    cfg = TrainConfig(SAEConfig("topk", 32, 64, k=4, d_out=32), total_vectors=10_000, batch_size=256)
    tc = train_sae(store, tmp_path / "tc", cfg, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "tc" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["fvu"] < rows[0]["fvu"] and rows[-1]["l0"] <= 4
    assert tc.W_dec.shape == (64, 32) and tc.W_skip is None
    with pytest.raises(MonoscopeError, match="transcoder"):
        train_sae(store, tmp_path / "sae", TrainConfig(SAEConfig("topk", 64, 64, k=4), total_vectors=512))


def test_bad_transcoders_are_refused(two_layer):
    _, _, model, tcs = two_layer
    with pytest.raises(MonoscopeError, match="no transcoder form"):
        SAEConfig("gated", 16, 64, d_out=8)
    with pytest.raises(MonoscopeError, match="skip connection needs a transcoder"):
        SAEConfig("relu", 16, 64, skip=True)
    with pytest.raises(MonoscopeError, match="trained on model 'tiny-2l', not 'other'"):
        check_transcoder(model, tcs[0], model_name="other")
    wrong = make_sae(SAEConfig("relu", 32, 16, d_out=32, metadata={"hook_name": "blocks.0.mlp.hook_in"}))
    wrong.cfg.metadata["hook_name_out"] = "blocks.1.hook_mlp_out"
    with pytest.raises(MonoscopeError, match="blocks.0.mlp.hook_in -> blocks.1.hook_mlp_out"):
        check_transcoder(model, wrong)
    with pytest.raises(MonoscopeError, match="not a transcoder"):
        check_transcoder(model, make_sae(SAEConfig("relu", 32, 16)))
