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


# ---- the seed's claim on token-level contexts (issue 14) -----------------------------------------------
TOKEN_SPEC, TOKEN_SENS = 0.9, 0.6
TOKEN_RULE = (
    f"on each token-level context (a script, a span label): the best feature has specificity ≥ {TOKEN_SPEC} and "
    f"sensitivity ≥ {TOKEN_SENS}, and its F1 beats the best neuron's"
)


def token_met(f: dict | None, neuron: dict | None) -> bool:
    return (
        bool(f)
        and f["specificity"] >= TOKEN_SPEC
        and f["sensitivity"] >= TOKEN_SENS
        and f["f1"] > (neuron["f1"] if neuron else 0.0)
    )


def token_goal(saes: list[dict], results: list[list[dict]], kinds: tuple[str, ...] = ("script", "span")) -> dict:
    """One row per token-level context: the best feature over every SAE (one that meets the rule first, then the
    highest F1), the best neuron, and whether the feature beats every neuron. `results[i]` is SAE i's
    evaluate_contexts output; probes, when computed, sit on `results[0]`."""
    rows = []
    by_name = [{r["name"]: r for r in res} for res in results]
    for first in results[0]:
        if first.get("kind") not in kinds:
            continue
        if "error" in first:
            rows.append({"context": first["name"], "error": first["error"], "met": False})
            continue
        neuron = first["neuron"]
        cands = []
        for info, res in zip(saes, by_name):
            f = res.get(first["name"], {}).get("best_feature")
            if f:
                cands.append((token_met(f, neuron), f["f1"], info, f))
        ok, _, info, f = max(cands, key=lambda t: (t[0], t[1])) if cands else (False, 0.0, {}, None)
        probe = first.get("probe")
        tuned = (probe or {}).get("tuned", probe) if probe and "error" not in probe else None
        limit = None
        if not ok and tuned:
            limit = "sae" if token_met(tuned, neuron) else "model"
        rows.append(
            {
                "context": first["name"],
                "in_context_tokens": first["n_in_eval"],
                "sae": info.get("name"),
                "feature": f["index"] if f else None,
                "feature_specificity": f["specificity"] if f else None,
                "feature_sensitivity": f["sensitivity"] if f else None,
                "feature_f1": f["f1"] if f else None,
                "feature_proxy_corr": f.get("proxy_corr") if f else None,
                "neuron": neuron["index"] if neuron else None,
                "neuron_specificity": neuron["specificity"] if neuron else None,
                "neuron_sensitivity": neuron["sensitivity"] if neuron else None,
                "neuron_f1": neuron["f1"] if neuron else None,
                "neuron_proxy_corr": neuron.get("proxy_corr") if neuron else None,
                "met": ok,
                "probe": tuned and {k: tuned.get(k) for k in ("specificity", "sensitivity", "f1")},
                "limit": limit,
            }
        )
    met = [r["context"] for r in rows if r["met"]]
    return {
        "rule": TOKEN_RULE,
        "limit_rule": "for a missed context: 'sae' when the linear-probe ceiling meets the rule (a direction "
        "exists that no SAE has as a feature), 'model' when even the probe misses it",
        "n_contexts": len(rows),
        "n_met": len(met),
        "met": met,
        "not_met": [r["context"] for r in rows if not r["met"]],
        "line": f"{len(met)} of {len(rows)} token-level contexts have a feature that no neuron matches "
        f"(specificity ≥ {TOKEN_SPEC}, sensitivity ≥ {TOKEN_SENS}, F1 above the best neuron's)",
        "contexts": rows,
    }
