import pytest
import torch
from steer_helpers import active_feature, load, peak_context

from monoscope.errors import MonoscopeError
from monoscope.steer.design import DesignConfig, design_inputs, feature_activation
from monoscope.steer.edits import Edit
from monoscope.steer.effects import ablation_effects, feature_contributions
from monoscope.steer.splice import steer


@pytest.fixture(scope="module")
def run(tiny_run):
    return load(tiny_run)


def test_contributions_add_up_to_layer_output_and_logits(run):
    i, _ = active_feature(run)
    t = peak_context(run, i)
    c = feature_contributions(run.model, run.sae, t, i)
    assert c["check"]["layer_output_max_abs_gap"] < 1e-4
    assert c["check"]["logits_max_abs_gap"] < 1e-4
    assert c["activation"] > 0  # default position is where the feature peaks
    # one-layer model: the direct path is the only path from the MLP, so with the final LayerNorm's scale frozen
    # at its clean value (as direct logit attribution assumes) the ablation's total effect equals the direct logits
    with torch.no_grad():
        clean, cache = run.model.run_with_cache(t[None], names=["ln_final.hook_scale"])
        clean_scale = cache["ln_final.hook_scale"]
        with (
            steer(run.model, run.sae, [Edit(i, "ablate")], run.hook),
            run.model.hooks([("ln_final.hook_scale", lambda s, hp: clean_scale)]),
        ):
            ablated = run.model(t[None])[0, c["position"]]
    clean = clean[0, c["position"]]
    frozen_total = clean - ablated
    assert frozen_total.abs().max() > 0
    assert torch.allclose(frozen_total, c["direct_logits"], atol=1e-5 + 1e-3 * float(frozen_total.abs().max()))
    assert -1 <= c["direct_vs_total_corr"] <= 1  # unfrozen: the scale's own change is what separates the two
    assert c["direct_logits"].shape == (run.model.cfg.vocab_size,)


def test_ablation_changes_exactly_the_predictions_where_the_feature_fires(run):
    # one layer: attention runs before the MLP, so the MLP at position p only feeds the prediction of token p+1
    i, _ = active_feature(run)
    t = peak_context(run, i)
    r = ablation_effects(run.model, run.sae, t, i)
    acts, delta = r["activation"], r["delta_logp"]
    assert delta[0] is None and len(delta) == len(acts) == t.shape[0]
    on = [p for p in range(1, len(acts) - 1) if acts[p] > 0]
    off = [p for p in range(len(acts) - 1) if acts[p] == 0]
    assert on and off
    assert all(abs(delta[p + 1]) < 1e-6 for p in off)
    assert all(abs(delta[p + 1]) > 1e-6 for p in on)
    with pytest.raises(MonoscopeError, match="out of range"):
        ablation_effects(run.model, run.sae, t, -1)


def test_design_improves_and_reports_true_activation(run):
    i, _ = active_feature(run)
    cfg = DesignConfig(length=5, steps=4, candidates=16, top_k=8, beam=2, patience=4, seed=0)
    r = design_inputs(run.model, run.sae, i, cfg, bos_id=run.dataset.bos_id)
    tr = r["trace"]
    assert all(b >= a - 1e-5 for a, b in zip(tr, tr[1:]))  # the beam keeps its members, so the best never drops
    best = r["sequences"][0]
    assert len(best["tokens"]) == 5 and run.dataset.bos_id not in best["tokens"]
    t = torch.tensor([[run.dataset.bos_id] + best["tokens"]])
    assert float(feature_activation(run.model, run.sae, run.hook, i, t)[0]) == pytest.approx(
        best["activation"], abs=1e-5
    )
    assert best["pre_activation"] >= tr[0] - 1e-5
