"""Direct logit effects on the built-in GPT's interface and on Hugging Face causal LMs (GPT-2: LayerNorm and a
transposed Conv1D MLP; Llama: RMSNorm and a gated MLP), checked against the model's own modules."""

from __future__ import annotations

import pytest
import torch

from monoscope.features.logit_effects import logit_effects, residual_directions, typical_ln_scale


def brute_force_effects(model, dirs: torch.Tensor, scale: float) -> torch.Tensor:
    """Effect of each residual direction d on the logits with the final norm's scale frozen at `scale`, through
    the model's own final-norm and unembedding modules: N(d) divides d by its own scale σ(d), so the frozen-scale
    effect is σ(d)/scale · (head(N(d)) - head(N(0)))."""
    u = model.unembed
    x = dirs - dirs.mean(-1, keepdim=True) if u.centre else dirs
    sigma = (x.pow(2).mean(-1, keepdim=True) + u.eps).sqrt()
    zero = u.logits(torch.zeros_like(dirs[:1]))
    return sigma / scale * (u.logits(dirs) - zero)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("hook", ["blocks.0.mlp.hook_post", "blocks.1.hook_resid_mid", "hook_embed"])
def test_logit_effects_on_hugging_face_models(hf_run, family, hook):
    from monoscope.models import load_model

    m = load_model(hf_run(family) / "model")
    toks = torch.randint(0, m.cfg.vocab_size, (4, 12), generator=torch.Generator().manual_seed(0))
    scale = typical_ln_scale(m, toks)
    _, c = m.run_with_cache(toks, names=[m.final_resid_hook])
    assert scale == pytest.approx(float(m.unembed.scale(c[m.final_resid_hook])[:, 1:].mean()))
    d_in = m.run_with_cache(toks[:1], names=[hook], stop_early=True)[1][hook].shape[-1]
    W_dec = torch.randn(6, d_in, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eff = logit_effects(m, hook, W_dec, scale, k=5)
        dirs = residual_directions(m, hook, W_dec)
        want = brute_force_effects(m, dirs, scale)
    assert eff is not None and dirs.shape == (6, m.cfg.d_model)
    top = want.topk(5, dim=1)
    torch.testing.assert_close(eff["top_v"], top.values, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(eff["bot_v"], (-want).topk(5, dim=1).values.neg(), atol=1e-4, rtol=1e-3)
    assert eff["hist"].sum(1).tolist() == [m.cfg.vocab_size] * 6


def test_mlp_directions_go_through_the_down_projection(hf_run):
    """GPT-2's c_proj is a Conv1D (weight [in, out]): the direction must be what the module itself writes."""
    from monoscope.models import load_model

    m = load_model(hf_run("gpt2") / "model")
    down = m.hf.base_model.h[0].mlp.c_proj
    W_dec = torch.randn(3, m.cfg.d_mlp, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(residual_directions(m, "blocks.0.mlp.hook_post", W_dec), down(W_dec) - down.bias)


def test_encoders_and_non_residual_hooks_get_none(hf_run, tmp_path):
    from hf_tiny_models import save_tiny  # on the path through the hf_run fixture

    from monoscope.models import load_model

    bert = load_model(save_tiny("bert", tmp_path / "bert"))
    toks = torch.randint(0, bert.cfg.vocab_size, (1, 6))
    assert typical_ln_scale(bert, toks) is None
    assert logit_effects(bert, "blocks.0.hook_mlp_out", torch.randn(2, 32), 1.0) is None
    m = load_model(hf_run("gpt2") / "model")
    assert residual_directions(m, "blocks.0.mlp.hook_in", torch.randn(2, 32)) is None
    assert logit_effects(m, "blocks.0.mlp.hook_in", torch.randn(2, 32), 1.0) is None
