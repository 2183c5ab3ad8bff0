import pytest
import torch

from monoscope.data.dataset import Dataset
from monoscope.errors import MonoscopeError
from monoscope.evals import EvalConfig, ablation_hook, evaluate
from monoscope.models import load_model
from monoscope.sae import SAEConfig
from monoscope.sae.relu import ReLUSAE


@pytest.fixture(scope="module")
def parts(tiny_run):
    out, _ = tiny_run
    return load_model(out / "model"), Dataset(out / "data")


def exact_sae(d, hook):
    """A ReLU SAE that reconstructs exactly: f = [relu(x), relu(-x)], W_dec = [I; -I]."""
    sae = ReLUSAE(SAEConfig("relu", d, 2 * d, metadata={"hook_name": hook}))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def test_exact_reconstruction_recovers_all_loss(parts):
    model, ds = parts
    hook = "blocks.0.mlp.hook_post"
    r = evaluate(
        model,
        exact_sae(model.cfg.d_mlp, hook),
        ds.split("val").tokens,
        cfg=EvalConfig(n_contexts=8),
        positions=ds.positions,
        progress=False,
    )
    assert r["fvu"] < 1e-10 and r["kl"] < 1e-8
    assert abs(r["ce_spliced"] - r["ce_clean"]) < 1e-5
    assert r["ablation_hook"] == "blocks.0.hook_mlp_out"
    assert r["ce_zero_ablated"] - r["ce_clean"] > 1e-3  # the ablation matters, so loss recovered means something
    assert r["loss_recovered"] == pytest.approx(1.0, abs=1e-3)


def test_mean_only_sae_matches_manual_metrics(parts):
    model, ds = parts
    hook = "blocks.0.mlp.hook_post"
    tokens = ds.split("val").tokens[:4]
    _, cache = model.run_with_cache(tokens, names=[hook])
    x = cache[hook][:, 1:].reshape(-1, model.cfg.d_mlp)  # BOS column excluded
    sae = ReLUSAE(SAEConfig("relu", model.cfg.d_mlp, 8, metadata={"hook_name": hook}))
    with torch.no_grad():
        sae.b_enc.fill_(-1e4)  # never fires: x_hat = b_dec = mean
        sae.b_dec.copy_(x.mean(0))
    r = evaluate(model, sae, tokens, cfg=EvalConfig(n_contexts=4), positions=ds.positions, progress=False)
    assert r["fvu"] == pytest.approx(1.0, abs=1e-6)
    assert r["l0"] == 0 and r["dead_fraction"] == 1.0
    assert r["mse"] == pytest.approx(((x - x.mean(0)) ** 2).sum(-1).mean().item(), rel=1e-5)
    logits = model.run_with_hooks(
        tokens, fwd_hooks=[(hook, lambda v, h: torch.cat([v[:, :1], x.mean(0).expand_as(v[:, 1:])], 1))]
    )
    from monoscope.models import lm_loss

    assert r["ce_spliced"] == pytest.approx(lm_loss(logits, tokens).item(), rel=1e-5)
    expect = (r["ce_zero_ablated"] - r["ce_spliced"]) / (r["ce_zero_ablated"] - r["ce_clean"])
    assert r["loss_recovered"] == pytest.approx(expect) or r["ce_zero_ablated"] <= r["ce_clean"]


def test_mismatches_are_refused(parts):
    model, ds = parts
    sae = ReLUSAE(SAEConfig("relu", 7, 8, metadata={"hook_name": "blocks.0.mlp.hook_post"}))
    with pytest.raises(MonoscopeError, match="d_in=7"):
        evaluate(model, sae, ds.split("val").tokens, cfg=EvalConfig(n_contexts=2), progress=False)
    sae.cfg.metadata["hook_name"] = "blocks.3.mlp.hook_post"
    with pytest.raises(MonoscopeError, match="valid hook points"):
        evaluate(model, sae, ds.split("val").tokens, progress=False)


def test_ablation_hook_names():
    assert ablation_hook("blocks.2.mlp.hook_pre") == "blocks.2.hook_mlp_out"
    assert ablation_hook("blocks.0.hook_resid_post") == "blocks.0.hook_resid_post"


def test_counted_tokens_follow_the_position_rule(parts):
    model, ds = parts
    tokens = ds.split("val").tokens[:4].clone()
    tokens[:, 5] = ds.bos_id  # a separator in every context: neither spliced nor counted
    sae = exact_sae(model.cfg.d_mlp, "blocks.0.mlp.hook_post")
    r = evaluate(model, sae, tokens, cfg=EvalConfig(n_contexts=4), positions=ds.positions, progress=False)
    assert r["eval_tokens"] == int(ds.positions.mask(tokens).sum()) == int((tokens != ds.bos_id).sum())


def test_evaluate_many_shares_the_baselines_and_matches_one_at_a_time(parts):
    from monoscope.evals.metrics import evaluate_many
    from monoscope.models.transformer import lm_loss

    model, ds = parts
    hook = "blocks.0.mlp.hook_post"
    tokens = ds.split("val").tokens[:6]
    noisy = exact_sae(model.cfg.d_mlp, hook)
    with torch.no_grad():
        noisy.W_dec.mul_(0.5)  # reconstructs half of x: loses loss, unlike the exact one
    saes = [exact_sae(model.cfg.d_mlp, hook), noisy]
    cfg = EvalConfig(n_contexts=6, batch_contexts=4)
    many = evaluate_many(model, saes, tokens, cfg=cfg, positions=ds.positions, progress=False)
    for sae, r in zip(saes, many):
        one = evaluate(model, sae, tokens, cfg=cfg, positions=ds.positions, progress=False)
        for k in ("ce_clean", "ce_spliced", "ce_zero_ablated", "kl", "fvu", "l0", "loss_recovered"):
            assert r[k] == pytest.approx(one[k], rel=1e-6, abs=1e-9), k
    assert many[0]["ce_clean"] == pytest.approx(lm_loss(model(tokens), tokens).item(), rel=1e-5)
    assert many[1]["kl"] > 0 and many[1]["fvu"] > 0.01


def test_evaluate_many_refuses_saes_of_different_hooks(parts):
    from monoscope.evals.metrics import evaluate_many

    model, ds = parts
    a = exact_sae(model.cfg.d_mlp, "blocks.0.mlp.hook_post")
    b = exact_sae(model.cfg.d_model, "blocks.0.hook_resid_post")
    with pytest.raises(MonoscopeError, match="one hook"):
        evaluate_many(model, [a, b], ds.split("val").tokens[:2], cfg=EvalConfig(n_contexts=2), progress=False)
