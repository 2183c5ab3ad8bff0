"""The report stage: the seed's experiments measured into report.json and figures/ (monoscope.dashboard.report
renders them as Markdown and one offline HTML page; it computes nothing).

Sections: hypothesised contexts (specificity/sensitivity), features vs
neurons, feature splitting and geometry (several SAE sizes), universality (a
second subject model). Every number a page shows is in report.json.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.features.context_goal import goal_over_saes, spread_rows
from monoscope.features.contexts import Context, default_contexts, parse_context_spec
from monoscope.features.family import RULE as FAMILY_RULE
from monoscope.features.goal import domain_goal
from monoscope.features.hypotheses import collect, evaluate_contexts, plot_context
from monoscope.features.neurons import context_comparison, features_vs_neurons
from monoscope.features.probe import probe_contexts
from monoscope.features.splitting import (
    check_same_source,
    dominant_domains,
    families,
    match_sizes,
    n_families,
    plot_umap,
    top_examples,
    umap_embed,
)
from monoscope.features.universality import plot_universality, universality
from monoscope.io import read_json, write_json
from monoscope.stages import finish_stage, open_stage


@dataclass
class ReportConfig:
    saes: list[str]
    compare_sae: str | None = None
    contexts: list[str] = field(default_factory=list)  # NAME=REGEX
    # Training-split contexts, spread evenly over the split, on which the best unit per context is chosen: spread
    # (not one block) so that a small domain shows up in proportion to its share of the corpus.
    select_contexts: int = 1024
    eval_contexts: int | None = None  # validation contexts on which it is measured (None: all)
    fires_frac: float = 0.1  # a unit fires above this fraction of its max activation
    top_k: int = 5
    min_fires: int = 10  # a feature is "live" with at least this many firings on the evaluation tokens
    umap: bool = True
    probe: bool = True  # linear-probe ceiling per context (logistic regression on the hook's activations)
    probe_contexts: int = (
        2048  # training contexts, spread over the split between the selection contexts, the probe learns on
    )
    probe_max_fit: int = (
        100_000  # of their tokens, a random subsample this large is fitted (threshold: selection tokens)
    )
    device: str = "cpu"


def _load(cfg: ReportConfig):
    from monoscope.run_folder import load_run, sae_dir
    from monoscope.sae.io import load_sae

    if not cfg.saes:
        raise MonoscopeError("report needs at least one --sae")
    if not 0 <= cfg.fires_frac < 1:
        raise MonoscopeError(f"--fires must lie in [0, 1), got {cfg.fires_frac}")
    if cfg.select_contexts < 1:
        raise MonoscopeError(f"--select-contexts must be ≥ 1, got {cfg.select_contexts}")
    if cfg.probe_max_fit < 100 or cfg.probe_contexts < 1:
        raise MonoscopeError(
            f"--probe-fit must be ≥ 100 tokens and --probe-contexts ≥ 1, got {cfg.probe_max_fit}, {cfg.probe_contexts}"
        )
    run = load_run(cfg.saes[0], device=cfg.device)
    saes = [run.sae] + [load_sae(sae_dir(p), cfg.device) for p in cfg.saes[1:]]
    names = [str(sae_dir(p)) for p in cfg.saes]
    check_same_source(saes, names)
    return run, saes, names


def build_report(
    cfg: ReportConfig,
    out: Path | str,
    overwrite: bool = False,
    progress: bool = True,
    extra_contexts: list[Context] = (),
) -> dict:
    """Compute every section and write report.json and figures/ into `out` (reused when the config is unchanged)."""
    out = Path(out)
    contexts_extra = [parse_context_spec(s) for s in cfg.contexts] + list(extra_contexts)  # bad regexes fail first
    run, saes, names = _load(cfg)
    stamp = {**asdict(cfg), "saes": names, "extra_contexts": [c.name for c in extra_contexts]}
    if open_stage(out, "report", stamp, overwrite):
        return read_json(out / "report.json")
    figs = out / "figures"
    ds = run.dataset
    n_train = len(ds.split("train"))
    sel_rows = spread_rows(np.arange(n_train), cfg.select_contexts)
    ev = collect(run.model, saes, ds, run.hook, "val", cfg.eval_contexts, progress=progress)
    se = collect(run.model, saes, ds, run.hook, "train", rows=sel_rows, progress=progress)
    report: dict = {
        "sae": names[0],
        "hook": run.hook,
        "model": str(run.model_folder),
        "dataset": str(ds.folder),
        "d_sae": saes[0].d_sae,
        "d_in": saes[0].d_in,
        "fires_rule": (
            f"a unit fires when its activation > {cfg.fires_frac} x its max on the selection tokens "
            "(features and neurons alike)"
        ),
        "selection": f"best unit per context = highest F1 of specificity and sensitivity on {len(se)} tokens of "
        f"{len(sel_rows)} training contexts spread over the split; numbers measured on {len(ev)} validation tokens",
        "n_select_tokens": len(se),
        "n_eval_tokens": len(ev),
        "config": stamp,
        "basis": "MLP neurons" if run.hook.endswith("mlp.hook_post") else f"basis dimensions of {run.hook}",
    }
    domains = sorted({d["domain"] for d in ds.docs})
    contexts = default_contexts(domains, ds.meta.get("contexts")) + contexts_extra
    results = evaluate_contexts(contexts, se, ev, 0, cfg.fires_frac, cfg.top_k)
    report["probe_rule"] = _probe(contexts, results, run, se, ev, cfg, sel_rows, progress)
    for r in tqdm(results, desc="context figures", disable=not progress, leave=False):
        r["anchor"] = _slug(r["name"])  # the name as a file name and page anchor
        if "error" in r:
            continue
        for f in r["features"]:
            f["examples"] = top_examples(ev.features[0], f["index"], ev.table, 3)
        r["figure"] = str(plot_context(r, figs / f"context_{r['anchor']}.png").relative_to(out))
    report["contexts"] = results
    report["family_rule"] = FAMILY_RULE
    report["comparison"] = context_comparison(results)
    report["domain_goal"] = _goal(contexts, results, saes, names, se, ev, cfg)
    report["context_goal"] = goal_over_saes(contexts, se, ev, names, saes, cfg.fires_frac, first=results)
    fvn = features_vs_neurons(ev, saes[0].W_dec.detach().cpu().numpy(), 0, cfg.min_fires)
    fvn["figure"] = str(_plot_fvn(fvn, figs / "features_vs_neurons.png").relative_to(out))
    report["features_vs_neurons"] = fvn
    if len(saes) > 1:
        report["splitting"] = _splitting(saes, names, ev, figs, out, cfg)
    if cfg.compare_sae:
        report["universality"] = _universality(cfg, run, ev, figs, out, progress)
    write_json(out / "report.json", report)
    finish_stage(out)
    return report


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def _probe(
    contexts: list[Context], results: list[dict], run, se, ev, cfg: ReportConfig, sel_rows: np.ndarray, progress: bool
) -> str:
    """Linear-probe ceilings into `results`; returns how they were made."""
    if not cfg.probe:
        return "not computed (--no-probe)"
    train = np.arange(len(run.dataset.split("train")))
    rest = np.setdiff1d(train, sel_rows)
    apart = len(rest) > 0
    rows = spread_rows(rest if apart else train, cfg.probe_contexts)
    fit = collect(run.model, [], run.dataset, run.hook, "train", rows=rows, progress=progress)
    probe_contexts(contexts, results, fit, se, ev, max_fit=cfg.probe_max_fit)
    return (
        f"logistic regression on the hook's activations, fitted on ≤ {cfg.probe_max_fit} tokens of {len(rows)} "
        f"training contexts spread over the split ({'apart from' if apart else 'overlapping'} the selection contexts), "
        f"threshold chosen on the selection tokens (highest sensitivity with specificity ≥ 0.9, else highest F1), "
        f"measured on the evaluation tokens"
    )


def _goal(contexts: list[Context], results: list[dict], saes, names: list[str], se, ev, cfg: ReportConfig) -> dict:
    """The domain goal over every SAE: the first SAE's results, then each other SAE's best feature per domain."""
    doms = [c for c in contexts if c.kind == "domain"]
    per = [results] + [evaluate_contexts(doms, se, ev, i, cfg.fires_frac, 1) for i in range(1, len(saes))]
    infos = [{"sae": n, "d_sae": s.d_sae, "architecture": s.architecture} for n, s in zip(names, saes)]
    return domain_goal(infos, per)


def _plot_fvn(fvn: dict, path: Path) -> Path:
    from monoscope.plots import plt, save

    live = np.asarray(fvn["live"], dtype=bool)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    axes[0].hist(np.asarray(fvn["best_neuron_corr"])[live], bins=40, color="#3b6ea8")
    axes[0].axvline(fvn["corr_cut"], color="k", ls="--")
    axes[0].set_xlabel("correlation with the best-correlated neuron")
    axes[0].set_ylabel("live features")
    axes[0].set_title(f"{fvn['share_best_neuron_corr_below']:.0%} of live features below {fvn['corr_cut']}")
    sp = np.asarray(fvn["decoder_spread"])[live]
    axes[1].hist(sp, bins=np.arange(0, sp.max() + 2) - 0.5 if len(sp) else 10, color="#a85b3b")
    axes[1].set_xlabel(f"neurons with |decoder coefficient| ≥ {fvn['spread_coef']}")
    axes[1].set_ylabel("live features")
    axes[1].set_title(f"decoder spread (median {fvn['median_decoder_spread']})")
    return save(fig, path)


def _splitting(saes, names, ev, figs: Path, out: Path, cfg: ReportConfig) -> dict:
    order = sorted(range(len(saes)), key=lambda i: saes[i].d_sae)
    res: dict = {
        "saes": [
            {
                "path": names[i],
                "d_sae": saes[i].d_sae,
                "n_live": int((np.diff(ev.features[i].indptr) >= cfg.min_fires).sum()),
            }
            for i in order
        ],
        "pairs": [],
    }
    for a, b in zip(order, order[1:]):
        A, B = ev.features[a], ev.features[b]
        m = match_sizes(A, B, saes[a].W_dec.detach().cpu().numpy(), saes[b].W_dec.detach().cpu().numpy(), cfg.min_fires)
        fams = families(m)
        for f in fams:
            f["parent_examples"] = top_examples(A, f["parent"], ev.table, 3)
            for c in f["children"][:6]:
                c["examples"] = top_examples(B, c["index"], ev.table, 2)
        summary = {k: v for k, v in m.items() if not isinstance(v, list)}
        res["pairs"].append(
            {
                **summary,
                "n_families": n_families(m),
                "families": fams,
                "parent": m["parent"],
                "parent_corr": m["parent_corr"],
                "parent_cos": m["parent_cos"],
            }
        )
    if cfg.umap:
        W, sizes, doms = [], [], []
        for i in order:
            live = np.diff(ev.features[i].indptr) >= cfg.min_fires
            W.append(saes[i].W_dec.detach().cpu().numpy()[live])
            sizes += [saes[i].d_sae] * int(live.sum())
            doms += [d for d, keep in zip(dominant_domains(ev.features[i], ev.table), live) if keep]
        W = np.concatenate(W)
        if len(W) >= 4:
            xy = umap_embed(W)
            res["umap"] = {
                "n_points": len(W),
                "sizes": sizes,
                "domains": doms,
                "xy": np.round(xy, 4).tolist(),
                "figure": str(plot_umap(xy, sizes, doms, figs / "umap.png").relative_to(out)),
            }
    return res


def _universality(cfg: ReportConfig, run, ev, figs: Path, out: Path, progress: bool) -> dict:
    from monoscope.run_folder import load_run

    other = load_run(cfg.compare_sae, data=run.dataset.folder, device=cfg.device)
    t1, t2 = run.dataset.tokenizer.to_str(), other.dataset.tokenizer.to_str()
    if t1 != t2:
        raise MonoscopeError(
            f"--compare-sae {cfg.compare_sae} uses another tokenizer than {cfg.saes[0]}; universality "
            "needs both models on the same tokens"
        )
    ev2 = collect(other.model, [other.sae], run.dataset, other.hook, "val", cfg.eval_contexts, progress=progress)
    r = universality(ev, ev2, cfg.min_fires)
    r.update(
        {"compare_sae": str(other.sae_folder), "compare_model": str(other.model_folder), "compare_hook": other.hook}
    )
    r["figure"] = str(plot_universality(r, figs / "universality.png").relative_to(out))
    return r
