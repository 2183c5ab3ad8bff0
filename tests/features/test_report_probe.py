"""Linear-probe ceiling: threshold choice, a direction no single neuron has, and bad labels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from monoscope.errors import MonoscopeError
from monoscope.features.contexts import domain_context
from monoscope.features.hypotheses import TokenActs, evaluate_contexts
from monoscope.features.probe import choose_threshold, own_document_seen, probe_ceiling, probe_contexts
from tests.features.test_report_contexts import make_table


def test_threshold_is_the_most_sensitive_with_specificity_at_least_min():
    s = np.array([9.0, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    y = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 1], bool)  # firing on 9 tokens: 8/9 in context; on all 10: 9/10
    thr, rule = choose_threshold(s, y, 0.85)
    assert "max sensitivity" in rule and (s > thr).sum() == 10  # 0.9 ≥ 0.85: everything fires
    thr, _ = choose_threshold(s, y, 0.95)
    assert (s > thr).sum() == 8 and 1 < thr < 2  # the last cut with specificity 1.0, halfway to the next score


def test_threshold_cuts_between_tied_scores_never_inside():
    s = np.array([3.0, 2, 2, 2, 1])
    y = np.array([1, 1, 0, 0, 0], bool)
    thr, _ = choose_threshold(s, y, 0.9)
    assert thr > 2 and (s > thr).sum() == 1  # a cut inside the ties is not a threshold


def test_threshold_falls_back_to_f1_when_specificity_is_never_reached():
    s = np.array([4.0, 3, 2, 1])
    y = np.array([0, 1, 1, 0], bool)  # the best specificity is 2/3
    thr, rule = choose_threshold(s, y, 0.9)
    assert "max F1" in rule and (s > thr).sum() == 3


def oblique(n: int, seed: int):
    """Context = x0 + x1 > 1: linear, but along no single axis."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, X[:, 0] + X[:, 1] > 1.0


def test_probe_finds_an_oblique_direction_that_no_axis_has():
    (Xf, yf), (Xs, ys), (Xe, ye) = oblique(3000, 0), oblique(3000, 1), oblique(3000, 2)
    p = probe_ceiling(Xf, yf, Xs, ys, Xe, ye)
    assert p["specificity"] >= 0.85 and p["sensitivity"] >= 0.85  # fitted, thresholded and measured on three sets
    assert p["selection"]["specificity"] >= 0.9
    t = p["tuned"]  # threshold tuned on the evaluation tokens: specificity ≥ 0.9 there, and at least as sensitive
    assert t["specificity"] >= 0.9 and (p["specificity"] < 0.9 or t["sensitivity"] >= p["sensitivity"])
    # the best single axis is clearly worse
    best_axis = max(probe_ceiling(Xf[:, [j]], yf, Xs[:, [j]], ys, Xe[:, [j]], ye)["f1"] for j in range(6))
    assert best_axis < p["f1"] - 0.15


def test_probe_on_labels_unrelated_to_activations_is_poor():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 6)).astype(np.float32)
    y = rng.random(2000) < 0.3
    y2 = rng.random(2000) < 0.3
    p = probe_ceiling(X, y, X, y, X, y2)
    assert p["specificity"] < 0.6 or p["sensitivity"] < 0.2


def test_probe_subsample_keeps_rare_context_and_bad_labels_raise():
    (Xs, ys), (Xe, ye) = oblique(3000, 0), oblique(3000, 1)
    rare = ys & (Xs[:, 0] > 1.5)  # a few percent of the tokens
    p = probe_ceiling(Xs, rare, Xs, ys, Xe, ye, max_fit=100)
    assert p["n_fit"] >= 100 and p["n_fit"] <= 100 + rare.sum()
    with pytest.raises(MonoscopeError, match="fit tokens must hold both"):
        probe_ceiling(Xs, np.zeros(len(Xs), bool), Xs, ys, Xe, ye)
    with pytest.raises(MonoscopeError, match="selection tokens must hold both"):
        probe_ceiling(Xs, ys, Xs, np.ones(len(Xs), bool), Xe, ye)
    with pytest.raises(MonoscopeError, match="activation rows"):
        probe_ceiling(Xs, ys[:-1], Xs, ys, Xe, ye)


def test_probe_contexts_attach_to_tested_contexts_only():
    X, y = oblique(1200, 3)
    table = make_table([("x", "py" if m else "prose") for m in y])
    ta = TokenActs(table, X, [sp.csc_matrix(np.maximum(X, 0))])
    ctxs = [domain_context("py"), domain_context("absent")]
    res = evaluate_contexts(ctxs, ta, ta)
    probe_contexts(ctxs, res, ta, ta, ta)
    assert res[0]["probe"]["sensitivity"] > 0.8 and "probe" not in res[1] and "error" in res[1]
    none = TokenActs(make_table([("x", "prose")] * len(y)), X, [])  # no py token to learn from: reported, not raised
    probe_contexts(ctxs[:1], res, none, ta, ta)
    assert "fit tokens" in res[0]["probe"]["error"]


def test_probe_sensitivity_by_own_document_tokens_seen():
    rng = np.random.default_rng(5)
    n = 4000
    seen = rng.integers(1, 128, n)
    y = rng.random(n) < 0.3
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 0] += 4.0 * (y & (seen >= 16))  # the context shows only once a token sees 16 tokens of its document
    p = probe_ceiling(X, y, X, y, X, y, seen_ev=seen)
    bins = {b["seen"]: b for b in p["tuned"]["by_seen"]}
    assert list(bins) == ["1-15", "16-63", "64+"]
    assert sum(b["n_in_context"] for b in bins.values()) == y.sum()
    assert bins["1-15"]["sensitivity"] < 0.3 and bins["16-63"]["sensitivity"] > 0.9 and bins["64+"]["sensitivity"] > 0.9
    plain = probe_ceiling(X, y, X, y, X, y)
    assert "by_seen" not in plain["tuned"] and "at_half_sensitivity" not in plain


def test_probe_names_what_it_confuses_the_context_with():
    rng = np.random.default_rng(6)
    n = 3000
    label = rng.choice(np.array(["py", "html", "prose"], dtype=object), n)
    y = label == "py"
    X = rng.normal(size=(n, 3)).astype(np.float32)
    X[:, 0] += 3.0 * (y | (label == "html"))  # html looks like the context on this direction; prose does not
    half = probe_ceiling(X, y, X, y, X, y, label_ev=label)["at_half_sensitivity"]
    assert 0.45 < half["sensitivity"] < 0.55 and half["specificity"] < 0.7
    assert list(half["false_positives"])[0] == "html" and half["false_positives"]["html"] > 5 * half[
        "false_positives"
    ].get("prose", 0)


def test_own_document_seen_counts_only_tokens_inside_the_context():
    t = make_table([("a", "x")] * 3)
    t.pos, t.col = (
        np.array([0, 5, 200]),
        np.array([0, 10, 3]),
    )  # a document that began before its context: col bounds it
    assert own_document_seen(t).tolist() == [1, 6, 4]
