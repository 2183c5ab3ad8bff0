"""`monoscope report`: the seed's experiments in one self-contained HTML page (plus Markdown, PNGs and report.json).

Sections: hypothesised contexts (specificity/sensitivity), features vs
neurons, feature splitting and geometry (several SAE sizes), universality (a
second subject model). The page embeds its figures as data URIs, so it works
offline with no CDN; every number shown is also in report.json.
"""

from __future__ import annotations

import base64
import html
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
from monoscope.io import read_json, write_json, write_text
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
    """Compute every section and write report.json, report.md, report.html and figures/ into `out`."""
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
        if "error" in r:
            continue
        for f in r["features"]:
            f["examples"] = top_examples(ev.features[0], f["index"], ev.table, 3)
        r["figure"] = str(plot_context(r, figs / f"context_{_slug(r['name'])}.png").relative_to(out))
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
    write_text(out / "report.md", render_markdown(report))
    write_text(out / "report.html", render_html(report, out))
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


# ---- rendering ------------------------------------------------------------------------------------
def _f(x, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    head = [
        "context",
        "in-context tokens",
        "feature",
        "spec",
        "sens",
        "corr",
        "neuron",
        "spec",
        "sens",
        "corr",
        "max neuron corr",
        "feature beats neuron",
        "goal",
        "probe spec",
        "probe sens",
    ]
    rows = [
        [
            r["context"],
            str(r["n_in_eval"]),
            _f(r["feature"]),
            _f(r["feature_specificity"]),
            _f(r["feature_sensitivity"]),
            _f(r["feature_proxy_corr"]),
            _f(r["neuron"]),
            _f(r["neuron_specificity"]),
            _f(r["neuron_sensitivity"]),
            _f(r["neuron_proxy_corr"]),
            _f(r["max_neuron_proxy_corr"]),
            _f(r["feature_beats_neuron"]),
            _f(r["goal_met"]),
            _f(r.get("probe_specificity")),
            _f(r.get("probe_sensitivity")),
        ]
        for r in report["comparison"]
    ]
    return head, rows


def _su(u: dict | None) -> str:
    return "–" if not u or u.get("specificity") is None else f"{u['specificity']:.3f} / {u['sensitivity']:.3f}"


def _goal_rows(g: dict) -> tuple[list[str], list[list[str]]]:
    """Domain goal: one row per domain; per SAE its best feature (spec / sens, ✓ when it meets the goal)."""
    head = ["domain", "best neuron spec / sens", "probe ceiling spec / sens", "probe, eval-tuned threshold"]
    head += [f"SAE {i + 1}: {s['architecture']} {s['d_sae']}" for i, s in enumerate(g["saes"])] + ["met", "why"]
    rows = []
    for d, x in g["domains"].items():
        p = x["probe"] or {}
        cells = [d, _su(x["neuron"]), _su(p), _su(p.get("tuned"))]
        for s in g["saes"]:
            f = s["domains"][d]
            fam = f.get("family")
            cells.append(
                "–"
                if f["feature"] is None
                else f"f{f['feature']}: {_su(f)}"
                + (" ✓" if f["goal_met"] else "")
                + (f"; family of {fam['size']}: {_su(fam)}" if fam and fam["size"] > 1 else "")
            )
        rows.append(cells + [_f(x["met"]), x["why"]])
    return head, rows


def _family_line(fam: dict) -> str:
    return (
        f"Feature family ({FAMILY_RULE}): {fam['size']} feature(s) {', '.join(map(str, fam['features']))}, "
        f"union spec {fam['specificity']:.3f}, sens {fam['sensitivity']:.3f}."
    )


def _goal_legend(g: dict) -> list[str]:
    return [f"SAE {i + 1}: {s['sae']} (met: {', '.join(s['met']) or 'none'})" for i, s in enumerate(g["saes"])]


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _example_md(e: dict) -> str:
    t = lambda s: s.replace("\n", "⏎").replace("`", "'")  # noqa: E731
    return f"`{t(e['left'][-25:])}[[{t(e['token'])}]]{t(e['right'][:15])}` ({e['act']:.2f}, {e['domain']})"


def render_markdown(report: dict) -> str:
    out = [
        f"# monoscope report: {report['sae']}",
        "",
        f"Hook `{report['hook']}` ({report['basis']}), SAE with {report['d_sae']} features.",
        f"Fires: {report['fires_rule']}.",
        f"Selection: {report['selection']}.",
        "",
        "## 1. Hypothesised contexts and 2. features vs neurons",
        "",
    ]
    head, rows = _table_rows(report)
    out += [_md_table(head, rows), ""]
    g = report["domain_goal"]
    out += [
        f"### Domain goal over {g['n_saes']} SAE(s)",
        "",
        f"Goal: {g['rule']}. Probe ceiling: {report['probe_rule']}.",
        "",
        f"Met for {', '.join(g['met']) or 'none'}; not met for {', '.join(g['not_met']) or 'none'}"
        + (
            f"; of those, the model itself is the limit for {', '.join(g['limited_by_model'])}"
            if g["limited_by_model"]
            else ""
        )
        + ".",
        "",
    ]
    out += (
        [_md_table(*_goal_rows(g)), "", f"Limit: {g['limit_rule']}.", ""] + [f"- {x}" for x in _goal_legend(g)] + [""]
    )
    for r in report["contexts"]:
        if "error" in r:
            out += [f"### {r['name']}", "", f"Not tested: {r['error']}", ""]
            continue
        out += [f"### {r['name']}", "", r["description"], "", f"![{r['name']}]({r['figure']})", ""]
        if r.get("family"):
            out += [_family_line(r["family"]), ""]
        for f in r["features"][:3]:
            out.append(
                f"- feature {f['index']} (spec {f['specificity']:.2f}, sens {f['sensitivity']:.2f}): "
                + "; ".join(_example_md(e) for e in f["examples"])
            )
        out.append("")
    fvn = report["features_vs_neurons"]
    out += [
        "### Features vs neurons (all live features)",
        "",
        f"- live features (≥ {fvn['min_fires']} firings): {fvn['n_live']} of {fvn['n_features']}",
        f"- median correlation with the best neuron: {_f(fvn['median_best_neuron_corr'])}",
        (
            f"- share of live features whose best neuron correlation < {fvn['corr_cut']}: "
            f"{_f(fvn['share_best_neuron_corr_below'])}"
        ),
        f"- neurons per decoder direction (|coef| ≥ {fvn['spread_coef']}): median {_f(fvn['median_decoder_spread'])}, "
        f"mean {_f(fvn['mean_decoder_spread'], 1)}; share spread over more than one: {_f(fvn['share_spread_over_1'])}",
        "",
        f"![features vs neurons]({fvn['figure']})",
        "",
    ]
    if "splitting" in report:
        s = report["splitting"]
        out += [
            "## 3. Feature splitting and geometry",
            "",
            "SAEs: " + ", ".join(f"{x['d_sae']} ({x['n_live']} live)" for x in s["saes"]),
            "",
        ]
        for p in s["pairs"]:
            out += [
                f"### {p['d_small']} → {p['d_large']}",
                "",
                (
                    "- median activation correlation of a large feature with its best small match: "
                    f"{_f(p['median_parent_corr'])}"
                ),
                (
                    f"- median decoder cosine of that pair: {_f(p['median_parent_cos'])}; "
                    f"median best decoder cosine: {_f(p['median_best_cos'])}"
                ),
                f"- share of large features matched with correlation ≥ 0.5: {_f(p['share_matched_corr_0.5'])}",
                f"- families (a small feature → ≥ 2 large features with correlation ≥ 0.4): {p['n_families']}",
                "",
            ]
            for fam in p["families"][:5]:
                out.append(
                    f"- feature {fam['parent']} → "
                    + ", ".join(f"{c['index']} (r={c['corr']:.2f})" for c in fam["children"])
                )
                out.append("  - parent: " + "; ".join(_example_md(e) for e in fam["parent_examples"]))
                for c in fam["children"][:4]:
                    out.append(f"  - {c['index']}: " + "; ".join(_example_md(e) for e in c.get("examples", [])))
            out.append("")
        if "umap" in s:
            out += [f"![UMAP]({s['umap']['figure']})", ""]
    if "universality" in report:
        u = report["universality"]
        out += [
            "## 4. Universality",
            "",
            f"Compared with {u['compare_sae']} (model {u['compare_model']}), {u['n_tokens']} tokens.",
            "",
            (
                f"- median best-match correlation, features: {_f(u['median_feature_corr'])} "
                f"({u['n_live_features_a']} live features)"
            ),
            f"- median best-match correlation, neurons: {_f(u['median_neuron_corr'])}",
            f"- Bricken et al. 2023: {u['reference']['median_feature_corr']} vs {u['reference']['median_neuron_corr']}",
            "",
            f"![universality]({u['figure']})",
            "",
        ]
    out += ["All numbers: report.json.", ""]
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.met{background:#e6f4e6}img{max-width:100%;border:1px solid #eee}
code{background:#f4f4f4;padding:1px 3px;white-space:pre-wrap}mark{background:#ffd36b}.err{color:#a33}
.ex{font-family:monospace;font-size:12px;white-space:pre-wrap;background:#fafafa;margin:2px 0;padding:2px 4px}"""


def _img(out: Path, rel: str, alt: str) -> str:
    data = base64.b64encode((out / rel).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _example_html(e: dict) -> str:
    esc = lambda s: html.escape(s.replace("\n", "⏎"))  # noqa: E731
    return (
        f'<div class="ex">{esc(e["left"][-40:])}<mark>{esc(e["token"])}</mark>{esc(e["right"][:20])}'
        f" <small>({e['act']:.2f}, {html.escape(e['domain'])})</small></div>"
    )


def render_html(report: dict, out: Path) -> str:
    e = html.escape
    p = [
        (
            "<!doctype html><html><head><meta charset='utf-8'><title>monoscope report</title>"
            f"<style>{_CSS}</style></head><body>"
        ),
        f"<h1>monoscope report</h1><p>SAE <code>{e(report['sae'])}</code>, hook <code>{e(report['hook'])}</code> "
        f"({e(report['basis'])}), {report['d_sae']} features.</p>",
        f"<p>{e(report['fires_rule'])}. {e(report['selection'])}.</p>",
        "<h2>1. Hypothesised contexts &amp; 2. features vs neurons</h2>",
    ]
    head, rows = _table_rows(report)
    p.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
    for r, cmp in zip(rows, report["comparison"]):
        p.append(f"<tr class='{'met' if cmp['goal_met'] else ''}'>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
    p.append("</table>")
    g = report["domain_goal"]
    p.append(
        f"<h3>Domain goal over {g['n_saes']} SAE(s)</h3>"
        f"<p>Goal: {e(g['rule'])}. Probe ceiling: {e(report['probe_rule'])}.</p>"
        f"<p>Met for {e(', '.join(g['met']) or 'none')}; not met for {e(', '.join(g['not_met']) or 'none')}"
        + (
            f"; of those, the model itself is the limit for {e(', '.join(g['limited_by_model']))}"
            if g["limited_by_model"]
            else ""
        )
        + ".</p>"
    )
    head, rows = _goal_rows(g)
    p.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
    for x, r in zip(g["domains"].values(), rows):
        p.append(f"<tr class='{'met' if x['met'] else ''}'>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
    p.append(
        f"</table><p>Limit: {e(g['limit_rule'])}.</p><ul>"
        + "".join(f"<li>{e(x)}</li>" for x in _goal_legend(g))
        + "</ul>"
    )
    for r in report["contexts"]:
        p.append(f"<h3 id='{e(_slug(r['name']))}'>{e(r['name'])}</h3><p>{e(r['description'])}</p>")
        if "error" in r:
            p.append(f"<p class='err'>Not tested: {e(r['error'])}</p>")
            continue
        p.append(_img(out, r["figure"], r["name"]))
        if r.get("family"):
            p.append(f"<p>{e(_family_line(r['family']))}</p>")
        for f in r["features"][:3]:
            p.append(
                f"<p>feature {f['index']}: specificity {f['specificity']:.3f}, sensitivity {f['sensitivity']:.3f}</p>"
            )
            p += [_example_html(x) for x in f["examples"]]
    fvn = report["features_vs_neurons"]
    p += [
        "<h3>Features vs neurons (all live features)</h3><ul>",
        f"<li>live features (≥ {fvn['min_fires']} firings): {fvn['n_live']} of {fvn['n_features']}</li>",
        f"<li>median correlation with the best neuron: {_f(fvn['median_best_neuron_corr'])}</li>",
        (
            f"<li>share of live features with best neuron correlation &lt; {fvn['corr_cut']}: "
            f"{_f(fvn['share_best_neuron_corr_below'])}</li>"
        ),
        (
            f"<li>neurons per decoder direction (|coef| ≥ {fvn['spread_coef']}): "
            f"median {_f(fvn['median_decoder_spread'])}, mean {_f(fvn['mean_decoder_spread'], 1)}</li></ul>"
        ),
        _img(out, fvn["figure"], "features vs neurons"),
    ]
    if "splitting" in report:
        s = report["splitting"]
        p.append(
            "<h2>3. Feature splitting and geometry</h2><p>SAEs: "
            + e(", ".join(f"{x['d_sae']} ({x['n_live']} live)" for x in s["saes"]))
            + "</p>"
        )
        for pr in s["pairs"]:
            p += [
                f"<h3>{pr['d_small']} → {pr['d_large']}</h3><ul>",
                f"<li>median activation correlation with best small match: {_f(pr['median_parent_corr'])}</li>",
                f"<li>median decoder cosine of that pair: {_f(pr['median_parent_cos'])}</li>",
                f"<li>share matched with correlation ≥ 0.5: {_f(pr['share_matched_corr_0.5'])}</li>",
                f"<li>families: {pr['n_families']}</li></ul>",
            ]
            for fam in pr["families"][:5]:
                p.append(
                    f"<h4>feature {fam['parent']} → "
                    + e(", ".join(f"{c['index']} (r={c['corr']:.2f})" for c in fam["children"]))
                    + "</h4>"
                )
                p += ["<p>parent</p>"] + [_example_html(x) for x in fam["parent_examples"]]
                for c in fam["children"][:4]:
                    p += [f"<p>child {c['index']}</p>"] + [_example_html(x) for x in c.get("examples", [])]
        if "umap" in s:
            p.append(_img(out, s["umap"]["figure"], "UMAP"))
    if "universality" in report:
        u = report["universality"]
        p += [
            "<h2>4. Universality</h2>",
            f"<p>Compared with <code>{e(u['compare_sae'])}</code>, {u['n_tokens']} tokens.</p><ul>",
            f"<li>median best-match correlation, features: {_f(u['median_feature_corr'])}</li>",
            f"<li>median best-match correlation, neurons: {_f(u['median_neuron_corr'])}</li>",
            (
                f"<li>Bricken et al. 2023: {u['reference']['median_feature_corr']} "
                f"vs {u['reference']['median_neuron_corr']}</li></ul>"
            ),
            _img(out, u["figure"], "universality"),
        ]
    p.append("<p>All numbers: report.json.</p></body></html>")
    return "\n".join(p)
