"""The graph's predicted effects against ablations in the real model (attention and norms free)."""

import torch

from monoscope.circuits.check import predicted_total_effects, real_check
from monoscope.circuits.graph import Target, attribute
from monoscope.circuits.replacement import ReplacementModel


def test_real_check_measures_each_ablation_in_the_real_model(two_layer):
    _, ds, model, tcs = two_layer
    rep = ReplacementModel(model, tcs)
    toks = ds.split("train").tokens[1][:24]
    g = attribute(rep, toks, Target(token=7))
    r = real_check(rep, g, top=8)
    pred = predicted_total_effects(g)
    assert r["predicted"] == pred[r["features"]].tolist()
    assert sorted(pred.abs().tolist(), reverse=True)[:8] == [abs(v) for v in r["predicted"]]
    for b in (0, 5):  # one ablation at a time, by hand, in the float32 model itself
        L, p, f = (int(v) for v in g.features[r["features"][b]])
        d = (g.activations[r["features"][b]] * tcs[L].W_dec[f].double()).float()

        def ablate(v, hp, p=p, d=d):
            v = v.clone()
            v[0, p] -= d
            return v

        with torch.no_grad():
            clean = model(toks[None])[0, -1]
            cut = model.run_with_hooks(toks[None], fwd_hooks=[(f"blocks.{L}.hook_mlp_out", ablate)])[0, -1]
        want = (cut[7] - cut.mean()) - (clean[7] - clean.mean())
        assert abs(r["measured"][b] - float(want)) <= 1e-4 * max(abs(float(want)), 1e-3)


def test_total_effects_of_a_layer_1_feature_are_its_direct_edges(two_layer):
    _, ds, model, tcs = two_layer
    rep = ReplacementModel(model, tcs)
    g = attribute(rep, ds.split("train").tokens[0][:16], Target(token=7))
    last = g.features[:, 0] == 1  # nothing between a last-layer feature and the logit
    total = predicted_total_effects(g)
    assert torch.allclose(total[last], -g.adjacency[-1, : g.n_features][last])
