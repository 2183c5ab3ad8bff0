import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.steer.design import DesignConfig, design_inputs, feature_activation
from monoscope.steer.effects import ablation_effects, feature_contributions

from steer_helpers import active_feature, load


@pytest.fixture(scope="module")
def run(tiny_run):
    return load(tiny_run)


def test_contributions_add_up_to_layer_output_and_logits(run):
    i, _ = active_feature(run)
    t = run.dataset.split("val").tokens[0]
    c = feature_contributions(run.model, run.sae, t, i)
    assert c["check"]["layer_output_max_abs_gap"] < 1e-4
    assert c["check"]["logits_max_abs_gap"] < 1e-4
    assert c["activation"] > 0  # default position is where the feature peaks
    # one-layer model: the direct path is the only path from the MLP, so direct ≈ total effect
    assert c["direct_vs_total_corr"] > 0.9
    assert c["direct_logits"].shape == (run.model.cfg.vocab_size,)


def test_ablation_changes_exactly_the_predictions_where_the_feature_fires(run):
    # one layer: attention runs before the MLP, so the MLP at position p only feeds the prediction of token p+1
    i, _ = active_feature(run)
    t = run.dataset.split("val").tokens[0]
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
    assert float(feature_activation(run.model, run.sae, run.hook, i, t)[0]) == pytest.approx(best["activation"], abs=1e-5)
    assert best["pre_activation"] >= tr[0] - 1e-5
