"""Specificity/sensitivity arithmetic, on dense neurons and sparse features alike."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from monoscope.errors import MonoscopeError
from monoscope.features.contexts import domain_context
from monoscope.features.hypotheses import (
    TokenActs,
    column_correlations,
    evaluate_context,
    score_units,
    thresholds,
    unit_profile,
)
from tests.features.test_report_contexts import make_table


def synthetic(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, bool)
    mask[: n // 4] = True
    acts = np.zeros((n, 4), np.float32)
    acts[mask, 0] = rng.uniform(1, 2, mask.sum())  # fires exactly in context
    acts[: n // 8, 1] = 1.0  # half the context
    acts[rng.permutation(n)[: n // 10], 1] = 1.0  # ... plus noise outside
    acts[:, 2] = rng.uniform(0, 1, n)  # fires everywhere
    return acts, mask


def test_scores_dense_and_sparse_agree_and_are_right():
    acts, mask = synthetic()
    thr = thresholds(acts.max(0), 0.0)
    d = score_units(acts, mask, thr)
    s = score_units(sp.csc_matrix(acts), mask, thr)
    for k in d:
        np.testing.assert_allclose(d[k], s[k])
    assert d["specificity"][0] == 1.0 and d["sensitivity"][0] == 1.0
    assert d["sensitivity"][1] == pytest.approx(((acts[:, 1] > 0) & mask).sum() / mask.sum())
    assert d["specificity"][2] == pytest.approx(mask.mean(), abs=0.01)
    assert d["f1"].argmax() == 0
    assert d["n_fire"][3] == 0 and d["specificity"][3] == 0


def test_threshold_fraction_of_max_drops_small_activations():
    acts = np.array([[0.05], [1.0], [0.5]], np.float32)
    thr = thresholds(acts.max(0), 0.1)
    assert score_units(acts, np.array([True, True, False]), thr)["n_fire"][0] == 2


def test_correlations_match_numpy():
    acts, mask = synthetic()
    v = mask.astype(float)
    want = [np.corrcoef(acts[:, j], v)[0, 1] for j in range(3)]
    np.testing.assert_allclose(column_correlations(acts, v)[:3], want, atol=1e-6)
    np.testing.assert_allclose(column_correlations(sp.csc_matrix(acts), v)[:3], want, atol=1e-6)


def test_context_chooses_on_selection_and_reports_profile():
    acts, mask = synthetic()
    table = make_table([("x", "py" if m else "prose") for m in mask])
    ta = TokenActs(table, acts[:, ::-1].copy(), [sp.csc_matrix(acts)])  # neurons: the same units, reversed order
    r = evaluate_context(domain_context("py"), ta, ta, fires_frac=0.0)
    assert r["best_feature"]["index"] == 0 and r["neuron"]["index"] == 3
    assert r["best_feature"]["specificity"] == 1.0 and r["best_feature"]["sensitivity"] == 1.0
    assert not r["feature_beats_neuron"] and not r["goal_met"]  # a neuron as good as the feature is not beaten
    prof = r["feature_profile"]
    assert sum(map(sum, prof["hist"])) == mask.sum()
    assert prof["levels"][0]["specificity"] == 1.0


def test_context_matching_nothing_raises():
    acts, mask = synthetic()
    table = make_table([("x", "prose") for _ in mask])
    ta = TokenActs(table, acts, [sp.csc_matrix(acts)])
    with pytest.raises(MonoscopeError, match="matches no token"):
        evaluate_context(domain_context("py"), ta, ta)


def test_profile_stacks_by_proxy():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    v = np.array([1.0, 1.0, 0.0, 1.0])
    p = unit_profile(a, v, domain_context("x"), 0.0, bins=3)
    assert [sum(h) for h in p["hist"]] == [1, 2]  # out-of-context: 2.0; in context: 1.0 and 3.0
    assert sum(p["expected_value"][1]) == pytest.approx(4.0)


def test_family_unites_features_that_split_a_context():
    from monoscope.features.family import context_family

    n = 400
    mask = np.zeros(n, bool)
    mask[:100] = True
    acts = np.zeros((n, 4), np.float32)
    acts[:50, 0] = 1.0  # one half of the context
    acts[50:100, 1] = 1.0  # the other half
    acts[:, 2] = 1.0  # everywhere: never worth adding
    acts[[0, 200], 3] = 1.0  # one token in, one out: lowers specificity
    A = sp.csc_matrix(acts)
    thr = thresholds(acts.max(0), 0.0)
    fam = context_family(A, A, thr, mask, mask, [2, 0, 1, 3])
    assert fam["features"][:2] in ([0, 1], [1, 0]) and 2 not in fam["features"] and 3 not in fam["features"]
    assert fam["specificity"] == 1.0 and fam["sensitivity"] == 1.0
    assert context_family(A, A, thr, mask, mask, []) is None
    dense = context_family(acts, acts, thr, mask, mask, [0, 1])
    assert dense["features"] == fam["features"]
    table = make_table([("x", "py" if m else "prose") for m in mask])
    r = evaluate_context(domain_context("py"), TokenActs(table, acts, [A]), TokenActs(table, acts, [A]), fires_frac=0.0)
    assert r["best_feature"]["sensitivity"] == 0.5 and r["family"]["sensitivity"] == 1.0
