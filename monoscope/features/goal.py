"""The domain goal over every SAE of a report, with the linear-probe ceiling saying where a miss comes from.

Goal (issue 6): for each labelled domain, at least one feature with
specificity ≥ 0.9 and sensitivity ≥ 0.5 that beats the best neuron on both.
Each SAE's best feature per domain is chosen on selection tokens and measured
on evaluation tokens (`evaluate_contexts`); the domain is met when any SAE's
is. For a domain no SAE meets, the probe ceiling tells whether any direction
of the hook could have (`limit`): "model" (the ceiling itself is below the
thresholds), "neuron" (the ceiling reaches them but does not beat the best
neuron on both), or "sae" (a direction exists; no SAE has it as a feature).
"""

from __future__ import annotations

from monoscope.features.hypotheses import GOAL_SENS, GOAL_SPEC, beats, meets_thresholds

CEILING = (
    "the limit of a missed domain is judged on the probe direction with its threshold tuned on the evaluation "
    "tokens (an optimistic ceiling): 'model' when even that misses the thresholds, 'neuron' when it reaches them "
    "but does not beat the best neuron on both, 'sae' when it meets the goal"
)
RULE = f"best feature specificity ≥ {GOAL_SPEC} and sensitivity ≥ {GOAL_SENS}, beating the best neuron on both"
_KEYS = ("specificity", "sensitivity", "specificity_mass", "f1", "proxy_corr", "n_fire")


def _domains(results: list[dict]) -> dict[str, dict]:
    return {r["name"][len("domain:") :]: r for r in results if r.get("kind") == "domain" and "error" not in r}


def _limit(probe: dict | None, neuron: dict | None) -> str | None:
    """Judged on the probe's optimistic numbers (threshold tuned on the evaluation tokens) where present."""
    if probe is None:
        return None
    probe = probe.get("tuned", probe)
    if not meets_thresholds(probe):
        return "model"
    return "sae" if beats(probe, neuron) else "neuron"


_WHY = {
    "model": "the linear-probe ceiling is itself below the goal: the model, not the SAE, is the limit",
    "neuron": "the linear-probe ceiling reaches the thresholds but does not beat the best neuron on both",
    "sae": "a direction reaching the goal exists (the linear-probe ceiling): no SAE has it as a feature",
    None: "no probe ceiling computed",
}


def _probe_why(probe: dict | None) -> str:
    """Where the probe misses: by own-document tokens seen, and what it confuses the domain with (probe.py)."""
    probe = probe or {}
    bins = [b for b in (probe.get("tuned") or {}).get("by_seen", []) if b["sensitivity"] is not None]
    out = ""
    if bins:
        out += "; tuned probe sensitivity by own-document tokens seen: " + ", ".join(
            f"{b['seen']}: {b['sensitivity']:.2f} (n={b['n_in_context']})" for b in bins
        )
    half = probe.get("at_half_sensitivity")
    if half and half["false_positives"]:
        others = ", ".join(f"{k} ({v})" for k, v in half["false_positives"].items())
        out += (
            f"; at sensitivity {half['sensitivity']:.2f} the probe's specificity is {half['specificity']:.2f}, "
            f"its other firings in {others}"
        )
    return out


def domain_goal(saes: list[dict], results: list[list[dict]]) -> dict:
    """`saes[i]` ({"sae", "d_sae", "architecture"}) with `results[i]`, its evaluate_contexts output (probes on [0])."""
    per = [_domains(r) for r in results]
    names = sorted(set().union(*per)) if per else []
    out_saes = []
    for info, doms in zip(saes, per):
        rows = {}
        for d in names:
            r = doms.get(d)
            f = r and r["best_feature"]
            rows[d] = (
                {
                    "feature": f["index"],
                    **{k: f[k] for k in _KEYS},
                    "feature_beats_neuron": r["feature_beats_neuron"],
                    "goal_met": r["goal_met"],
                    "family": r.get("family"),
                }
                if f
                else {"feature": None, "goal_met": False}
            )
        out_saes.append({**info, "met": [d for d in names if rows[d]["goal_met"]], "domains": rows})
    domains = {}
    for d in names:
        first = next((p[d] for p in per if d in p), {})
        neuron, raw = first.get("neuron"), per[0].get(d, {}).get("probe")
        probe = raw if raw and "error" not in raw else None
        met_by = [s["sae"] for s in out_saes if s["domains"][d]["goal_met"]]
        lim = None if met_by else _limit(probe, neuron)
        domains[d] = {
            "met": bool(met_by),
            "met_by": met_by,
            "neuron": neuron and {k: neuron[k] for k in ("index", "specificity", "sensitivity")},
            "probe": raw,
            "ceiling_meets_goal": bool(probe) and _limit(probe, neuron) == "sae",
            "limit": lim,
            "why": ("met by " + ", ".join(met_by)) if met_by else _WHY[lim] + _probe_why(probe),
        }
    return {
        "rule": RULE,
        "limit_rule": CEILING,
        "n_saes": len(saes),
        "met": [d for d in names if domains[d]["met"]],
        "not_met": [d for d in names if not domains[d]["met"]],
        "limited_by_model": [d for d in names if domains[d]["limit"] == "model"],
        "domains": domains,
        "saes": out_saes,
    }
