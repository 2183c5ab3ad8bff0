"""The domain goal over several SAEs, and what the probe ceiling says about a miss."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from monoscope.features.contexts import domain_context
from monoscope.features.goal import domain_goal
from monoscope.features.hypotheses import TokenActs, evaluate_contexts
from tests.features.test_report_contexts import make_table


def two_saes(n: int = 400, seed: int = 0) -> tuple[TokenActs, list]:
    """Domains py (first quarter), html (second quarter), prose (rest). SAE 0 has an exact py feature, SAE 1 an exact
    html feature; the neurons: one covering half of py and half of html, one firing at random on 70% of tokens."""
    rng = np.random.default_rng(seed)
    dom = np.array(["py"] * (n // 4) + ["html"] * (n // 4) + ["prose"] * (n // 2), dtype=object)
    neurons = np.zeros((n, 3), np.float32)
    neurons[n // 8 : 3 * n // 8, 0] = 1.0
    neurons[rng.random(n) < 0.7, 1] = 1.0
    f0 = np.zeros((n, 2), np.float32)
    f0[dom == "py", 0] = rng.uniform(1, 2, (dom == "py").sum())
    f0[:, 1] = rng.uniform(0, 1, n)
    f1 = np.zeros((n, 2), np.float32)
    f1[dom == "html", 1] = 1.5
    f1[rng.permutation(n)[: n // 5], 0] = 1.0
    table = make_table([("x", d) for d in dom])
    return TokenActs(table, neurons, [sp.csc_matrix(f0), sp.csc_matrix(f1)]), [
        domain_context(d) for d in ("html", "prose", "py")
    ]


def test_goal_counts_every_sae_and_says_which_meets_each_domain():
    ta, ctxs = two_saes()
    per = [evaluate_contexts(ctxs, ta, ta, i, fires_frac=0.0) for i in range(2)]
    g = domain_goal(
        [{"sae": "A", "d_sae": 2, "architecture": "relu"}, {"sae": "B", "d_sae": 2, "architecture": "topk"}], per
    )
    assert g["n_saes"] == 2 and len(g["saes"]) == 2
    assert g["saes"][0]["met"] == ["py"] and g["saes"][1]["met"] == ["html"]
    assert g["met"] == ["html", "py"] and g["not_met"] == ["prose"]
    assert g["domains"]["py"]["met_by"] == ["A"] and g["domains"]["html"]["met_by"] == ["B"]
    py = g["saes"][0]["domains"]["py"]
    assert py["specificity"] == 1.0 and py["sensitivity"] == 1.0 and py["feature"] == 0
    assert g["saes"][1]["domains"]["py"]["goal_met"] is False  # SAE B's best py feature is not exact
    assert g["domains"]["prose"]["limit"] is None  # no probe given: no verdict on the cause


def _with_probe(results: list[dict], name: str, spec: float, sens: float) -> list[dict]:
    for r in results:
        if r["name"] == name:
            r["probe"] = {"specificity": spec, "sensitivity": sens}
    return results


def test_probe_ceiling_classifies_a_miss():
    ta, ctxs = two_saes()
    info = [{"sae": "A", "d_sae": 2, "architecture": "relu"}]
    res = evaluate_contexts(ctxs, ta, ta, 0, fires_frac=0.0)
    nb = next(r for r in res if r["name"] == "domain:prose")["neuron"]
    assert nb["index"] == 1 and 0.6 < nb["sensitivity"] < 0.8 and nb["specificity"] < 0.9
    cases = {
        (0.8, 0.9): "model",
        (0.95, 0.4): "model",  # below the thresholds: the model is the limit
        (0.95, nb["sensitivity"] - 0.05): "neuron",  # reaches them, but not past the neuron on both
        (0.99, 0.99): "sae",
    }
    for (spec, sens), want in cases.items():
        g = domain_goal(info, [_with_probe(res, "domain:prose", spec, sens)])
        d = g["domains"]["prose"]
        assert not d["met"] and d["limit"] == want, (spec, sens, d)
        assert (d["limit"] == "model") == ("prose" in g["limited_by_model"])
        assert d["ceiling_meets_goal"] == (want == "sae")
    # the verdict uses the eval-tuned bound: a selection threshold that transfers badly does not blame the model
    for r in res:
        if r["name"] == "domain:prose":
            r["probe"] = {"specificity": 0.5, "sensitivity": 0.3, "tuned": {"specificity": 0.99, "sensitivity": 0.99}}
    assert domain_goal(info, [res])["domains"]["prose"]["limit"] == "sae"
    # the why of a miss says where the tuned probe misses, by own-document tokens seen
    tuned = next(r for r in res if r["name"] == "domain:prose")["probe"]["tuned"]
    tuned["by_seen"] = [
        {"seen": "1-15", "n_in_context": 7, "sensitivity": 0.25},
        {"seen": "64+", "n_in_context": 0, "sensitivity": None},
    ]
    why = domain_goal(info, [res])["domains"]["prose"]["why"]
    assert why.endswith("own-document tokens seen: 1-15: 0.25 (n=7)"), why
    next(r for r in res if r["name"] == "domain:prose")["probe"]["at_half_sensitivity"] = {
        "specificity": 0.3,
        "sensitivity": 0.5,
        "false_positives": {"py": 40, "html": 2},
    }
    why = domain_goal(info, [res])["domains"]["prose"]["why"]
    assert why.endswith(
        "at sensitivity 0.50 the probe's specificity is 0.30, its other firings in py (40), html (2)"
    ), why
    # a probe that could not be fitted gives no verdict
    next(r for r in res if r["name"] == "domain:prose")["probe"] = {"error": "no"}
    assert domain_goal(info, [res])["domains"]["prose"]["limit"] is None
    # a met domain gets no limit even with a poor probe
    g = domain_goal(info, [_with_probe(res, "domain:py", 0.1, 0.1)])
    assert g["domains"]["py"]["met"] and g["domains"]["py"]["limit"] is None
