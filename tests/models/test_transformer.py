import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.models import GPT, GPTConfig, load_model

REQUIRED = [
    "hook_embed",
    "hook_pos_embed",
    "blocks.{L}.hook_resid_pre",
    "blocks.{L}.attn.hook_pattern",
    "blocks.{L}.hook_attn_out",
    "blocks.{L}.mlp.hook_in",
    "blocks.{L}.mlp.hook_pre",
    "blocks.{L}.mlp.hook_post",
    "blocks.{L}.hook_mlp_out",
    "blocks.{L}.hook_resid_post",
    "ln_final.hook_normalized",
]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=64, n_ctx=16, d_model=32, n_layers=2, n_heads=4, d_mlp=64)).eval()


def toks(n=2, t=16):
    return torch.randint(0, 64, (n, t), generator=torch.Generator().manual_seed(1))


def test_transformerlens_hook_names(model):
    names = set(model.hook_names())
    for L in range(2):
        for r in REQUIRED:
            assert r.format(L=L) in names


def test_residual_stream_is_sum_of_writes(model):
    _, c = model.run_with_cache(toks())
    for L in range(2):
        pre, post = c[f"blocks.{L}.hook_resid_pre"], c[f"blocks.{L}.hook_resid_post"]
        assert torch.allclose(post, pre + c[f"blocks.{L}.hook_attn_out"] + c[f"blocks.{L}.hook_mlp_out"], atol=1e-5)
    assert torch.allclose(c["blocks.0.hook_resid_pre"], c["hook_embed"] + c["hook_pos_embed"], atol=1e-6)
    assert torch.allclose(c["blocks.0.hook_resid_post"], c["blocks.1.hook_resid_pre"])


def test_model_interface(model):
    """Unembedding, MLP hooks and residual paths: what logit effects and attribution read, checked on the real
    forward pass."""
    t = toks()
    logits, c = model.run_with_cache(t)
    u = model.unembed
    assert u.hook == model.final_resid_hook == "blocks.1.hook_resid_post"
    resid = c[u.hook]
    assert torch.equal(u.logits(resid), logits)
    assert torch.equal(u.scale(resid), c["ln_final.hook_scale"])
    torch.testing.assert_close(u.direct(resid, u.scale(resid)) + u.constant(), logits)
    for L in range(2):
        h = model.mlp_hooks(L)
        assert (h.input, h.pre, h.post, h.out) == tuple(
            f"blocks.{L}.{s}" for s in ("mlp.hook_in", "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out")
        )
        torch.testing.assert_close(c[h.input], model.blocks[L].ln2(c[f"blocks.{L}.hook_resid_mid"]))
        path = model.residual_path(h.post)
        assert path.out == h.out
        torch.testing.assert_close(path.apply(c[h.post]) + path.b, c[h.out])
        assert model.residual_path(f"blocks.{L}.hook_attn_out").W is None
        assert model.residual_path(f"blocks.{L}.attn.hook_pattern") is None
    assert model.token_embedding.shape == (64, 32) and model.hook_info("hook_embed").in_residual
    with pytest.raises(MonoscopeError, match="out of range"):
        model.mlp_hooks(2)
    with pytest.raises(MonoscopeError, match="unknown hook point"):
        model.residual_path("blocks.7.hook_mlp_out")


def test_stop_early_matches_full_run(model):
    logits, full = model.run_with_cache(toks(), names=["blocks.0.mlp.hook_post"])
    none, early = model.run_with_cache(toks(), names=["blocks.0.mlp.hook_post"], stop_early=True)
    assert none is None and logits is not None
    assert torch.equal(full["blocks.0.mlp.hook_post"], early["blocks.0.mlp.hook_post"])
    assert early["blocks.0.mlp.hook_post"].shape == (2, 16, 64)


def test_pattern_hook_path_matches_fused_attention(model):
    t = toks()
    plain = model(t)
    logits, c = model.run_with_cache(t, names=["blocks.0.attn.hook_pattern"])
    assert torch.allclose(plain, logits, atol=1e-5)
    pat = c["blocks.0.attn.hook_pattern"]
    assert pat.shape == (2, 4, 16, 16)
    assert torch.allclose(pat.sum(-1), torch.ones(2, 4, 16), atol=1e-5)
    assert (pat.triu(1) == 0).all()


def test_run_with_hooks_edits_and_cleans_up(model):
    t = toks()
    clean = model(t)
    zeroed = model.run_with_hooks(t, fwd_hooks=[("blocks.1.hook_mlp_out", lambda v, h: torch.zeros_like(v))])
    assert not torch.allclose(clean, zeroed)
    assert torch.equal(model(t), clean)  # hooks removed
    assert all(not hp.fns for hp in model.hook_dict.values())


def test_bad_inputs(model):
    with pytest.raises(MonoscopeError, match="valid hook points: hook_embed"):
        model.run_with_cache(toks(), names=["blocks.9.mlp.hook_post"])
    with pytest.raises(MonoscopeError, match="vocabulary"):
        model(torch.full((1, 4), 64))
    with pytest.raises(MonoscopeError, match="context"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(MonoscopeError, match="shape"):
        model.run_with_hooks(toks(), fwd_hooks=[("blocks.0.hook_mlp_out", lambda v, h: v[:, :1])])
    with pytest.raises(MonoscopeError, match="divisible"):
        GPTConfig(d_model=30, n_heads=4)


def test_save_load_round_trip_and_corrupt_file(model, tmp_path):
    model.save(tmp_path)
    again = load_model(tmp_path)
    assert torch.equal(again(toks()), model(toks()))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MonoscopeError, match="truncated or corrupt"):
        load_model(tmp_path)
    with pytest.raises(MonoscopeError, match="no config.json"):
        load_model(tmp_path / "nope")
