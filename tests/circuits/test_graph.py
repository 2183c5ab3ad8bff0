"""Attribution graphs on a tiny 2-layer GPT: every edge equals the measured effect of removing its source in the
frozen replacement model, and pruning / scores follow circuit-tracer's definitions."""

import pytest
import torch

from monoscope.circuits.check import frozen_check
from monoscope.circuits.graph import (
    Target,
    attribute,
    compute_influence,
    graph_scores,
    normalize_matrix,
    parse_target,
    prune,
)
from monoscope.circuits.replacement import ReplacementModel
from monoscope.errors import MonoscopeError


@pytest.fixture(scope="module")
def rep(two_layer):
    _, _, model, tcs = two_layer
    return ReplacementModel(model, tcs)


@pytest.fixture(scope="module")
def prompt(two_layer):
    _, ds, _, _ = two_layer
    return ds.split("train").tokens[2][:20]


def test_the_replacement_model_reproduces_the_model_on_its_prompt(two_layer, rep, prompt):
    _, _, model, _ = two_layer
    fr = rep.freeze(prompt)
    logits, _ = rep.run(fr, fr.embed, rep.written(fr))
    with torch.no_grad():
        real = model(prompt[None])[0].double()
    assert torch.allclose(logits, real, atol=1e-4)


@pytest.mark.parametrize("target", [Target(token=7), Target(layer=1, feature=3)])
def test_every_edge_is_the_measured_effect_in_the_frozen_model(rep, prompt, target):
    g = attribute(rep, prompt, target, batch=64)
    assert g.n_features > 0 and g.n_nodes == g.n_features + 2 * len(prompt) + len(prompt) + 1
    if target.layer is not None:  # a layer-1 target's sources are layer-0 features only
        assert (g.features[:, 0] == 0).all()
    r = frozen_check(rep, g)
    assert r["sources_checked"] > g.n_features
    assert r["edge_max_rel_error"] <= 1e-4
    # edges go forward only: no feature feeds a feature of its own or an earlier layer, nor an earlier position
    A = g.adjacency[: g.n_features, : g.n_features]
    L, P = g.features[:, 0], g.features[:, 1]
    backward = (L[None, :] >= L[:, None]) | (P[None, :] > P[:, None])
    assert (A[backward] == 0).all()
    assert (g.adjacency[-1, : g.n_features] != 0).any()  # features drive the target


def test_influence_pruning_and_scores_follow_circuit_tracer(rep, prompt):
    g = attribute(rep, prompt, Target(token=7))
    An = normalize_matrix(g.adjacency)
    w = torch.zeros(g.n_nodes, dtype=An.dtype)
    w[-1] = 1
    series = sum(w @ torch.linalg.matrix_power(An, k) for k in range(1, 6))  # nilpotent: paths are short here
    assert torch.allclose(compute_influence(An, w), series, atol=1e-12)
    full = graph_scores(g)
    assert 0 < full["replacement_score"] <= 1 and 0 < full["completeness_score"] <= 1
    pr = prune(g, 0.8)
    assert pr.node_mask[g.token_start :].all()  # tokens and the target are always kept
    assert pr.node_mask[: g.n_features].sum() < g.n_features
    everything = prune(g, 1.0).node_mask
    assert everything.sum() >= pr.node_mask.sum()


def test_bad_targets_and_prompts_are_refused(two_layer, rep):
    _, ds, _, tcs = two_layer
    tok = ds.tokenizer
    assert parse_target("1:3", tok, 2, 128) == Target(layer=1, feature=3)
    assert parse_target("#7", tok, 2, 128) == Target(token=7)
    with pytest.raises(MonoscopeError, match="out of range"):
        parse_target("1:128", tok, 2, 128)
    with pytest.raises(MonoscopeError, match="later layer"):
        parse_target("0:3", tok, 2, 128)
    with pytest.raises(MonoscopeError, match="not one token"):
        parse_target("zqxjzqxjzqxj", tok, 2, 128)
    with pytest.raises(MonoscopeError, match="more than the model's context"):
        attribute(rep, torch.zeros(40, dtype=torch.long), Target(token=1))
    with pytest.raises(MonoscopeError, match="one transcoder each"):
        ReplacementModel(two_layer[2], tcs[:1])
