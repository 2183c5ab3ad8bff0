"""The report's pages: report.json (made by monoscope.features.report) rendered as Markdown and one offline HTML page.

One list of sections (`sections`) says what the report shows; the two
renderers only say how a heading, a paragraph, a table, a figure, a list or a
row of examples looks in each format, so the two pages never disagree. The
HTML embeds its figures as data URIs: it works offline, with no CDN.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from monoscope.io import read_json, write_text


@dataclass(frozen=True)
class Code:
    """Inline code inside a paragraph."""

    text: str


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str | None = None


@dataclass(frozen=True)
class Para:
    parts: tuple  # str and Code
    error: bool = False


@dataclass(frozen=True)
class Table:
    head: list[str]
    rows: list[list[str]]
    marked: list[bool] = field(default_factory=list)  # rows that meet the goal


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the report folder
    alt: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Examples:
    """A label and the top-activating examples it stands for; `depth` nests it under the row above."""

    label: str
    examples: list[dict]
    depth: int = 0


def _f(x, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _su(u: dict | None) -> str:
    return "–" if not u or u.get("specificity") is None else f"{u['specificity']:.3f} / {u['sensitivity']:.3f}"


_COMPARISON = [
    ("context", "context"),
    ("in-context tokens", "n_in_eval"),
    ("feature", "feature"),
    ("spec", "feature_specificity"),
    ("sens", "feature_sensitivity"),
    ("corr", "feature_proxy_corr"),
    ("neuron", "neuron"),
    ("spec", "neuron_specificity"),
    ("sens", "neuron_sensitivity"),
    ("corr", "neuron_proxy_corr"),
    ("max neuron corr", "max_neuron_proxy_corr"),
    ("feature beats neuron", "feature_beats_neuron"),
    ("goal", "goal_met"),
    ("probe spec", "probe_specificity"),
    ("probe sens", "probe_sensitivity"),
]


def _comparison(report: dict) -> Table:
    rows = [[_f(r.get(k)) for _, k in _COMPARISON] for r in report["comparison"]]
    return Table([h for h, _ in _COMPARISON], rows, [bool(r["goal_met"]) for r in report["comparison"]])


def _goal_table(g: dict) -> Table:
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
    return Table(head, rows, [bool(x["met"]) for x in g["domains"].values()])


def _goal(report: dict) -> list:
    g = report["domain_goal"]
    limited = g["limited_by_model"]
    return [
        Heading(3, f"Domain goal over {g['n_saes']} SAE(s)"),
        Para((f"Goal: {g['rule']}. Probe ceiling: {report['probe_rule']}.",)),
        Para(
            (
                f"Met for {', '.join(g['met']) or 'none'}; not met for {', '.join(g['not_met']) or 'none'}"
                + (f"; of those, the model itself is the limit for {', '.join(limited)}" if limited else "")
                + ".",
            )
        ),
        _goal_table(g),
        Para((f"Limit: {g['limit_rule']}.",)),
        Bullets([f"SAE {i + 1}: {s['sae']} (met: {', '.join(s['met']) or 'none'})" for i, s in enumerate(g["saes"])]),
    ]


def _contexts(report: dict) -> list:
    out: list = []
    rule = report.get("family_rule", "")
    for r in report["contexts"]:
        out.append(Heading(3, r["name"], r.get("anchor")))
        if "error" in r:
            out.append(Para((f"Not tested: {r['error']}",), error=True))
            continue
        out += [Para((r["description"],)), Figure(r["figure"], r["name"])]
        fam = r.get("family")
        if fam:
            out.append(
                Para(
                    (
                        f"Feature family ({rule}): {fam['size']} feature(s) {', '.join(map(str, fam['features']))}, "
                        f"union spec {fam['specificity']:.3f}, sens {fam['sensitivity']:.3f}.",
                    )
                )
            )
        out += [
            Examples(f"feature {f['index']} (spec {f['specificity']:.3f}, sens {f['sensitivity']:.3f})", f["examples"])
            for f in r["features"][:3]
        ]
    return out


def _features_vs_neurons(fvn: dict) -> list:
    return [
        Heading(3, "Features vs neurons (all live features)"),
        Bullets(
            [
                f"live features (≥ {fvn['min_fires']} firings): {fvn['n_live']} of {fvn['n_features']}",
                f"median correlation with the best neuron: {_f(fvn['median_best_neuron_corr'])}",
                f"share of live features whose best neuron correlation < {fvn['corr_cut']}: "
                f"{_f(fvn['share_best_neuron_corr_below'])}",
                f"neurons per decoder direction (|coef| ≥ {fvn['spread_coef']}): "
                f"median {_f(fvn['median_decoder_spread'])}, mean {_f(fvn['mean_decoder_spread'], 1)}; "
                f"share spread over more than one: {_f(fvn['share_spread_over_1'])}",
            ]
        ),
        Figure(fvn["figure"], "features vs neurons"),
    ]


def _splitting(s: dict) -> list:
    out: list = [
        Heading(2, "3. Feature splitting and geometry"),
        Para(("SAEs: " + ", ".join(f"{x['d_sae']} ({x['n_live']} live)" for x in s["saes"]),)),
    ]
    for p in s["pairs"]:
        out += [
            Heading(3, f"{p['d_small']} → {p['d_large']}"),
            Bullets(
                [
                    "median activation correlation of a large feature with its best small match: "
                    f"{_f(p['median_parent_corr'])}",
                    f"median decoder cosine of that pair: {_f(p['median_parent_cos'])}; "
                    f"median best decoder cosine: {_f(p['median_best_cos'])}",
                    f"share of large features matched with correlation ≥ 0.5: {_f(p['share_matched_corr_0.5'])}",
                    f"families (a small feature → ≥ 2 large features with correlation ≥ 0.4): {p['n_families']}",
                ]
            ),
        ]
        for fam in p["families"][:5]:
            kids = ", ".join(f"{c['index']} (r={c['corr']:.2f})" for c in fam["children"])
            out.append(Examples(f"feature {fam['parent']} → {kids}; parent", fam["parent_examples"]))
            out += [Examples(f"child {c['index']}", c.get("examples", []), depth=1) for c in fam["children"][:4]]
    if "umap" in s:
        out.append(Figure(s["umap"]["figure"], "UMAP"))
    return out


def _universality(u: dict) -> list:
    ref = u["reference"]
    return [
        Heading(2, "4. Universality"),
        Para(("Compared with ", Code(u["compare_sae"]), f" (model {u['compare_model']}), {u['n_tokens']} tokens.")),
        Bullets(
            [
                f"median best-match correlation, features: {_f(u['median_feature_corr'])} "
                f"({u['n_live_features_a']} live features)",
                f"median best-match correlation, neurons: {_f(u['median_neuron_corr'])}",
                f"Bricken et al. 2023: {ref['median_feature_corr']} vs {ref['median_neuron_corr']}",
            ]
        ),
        Figure(u["figure"], "universality"),
    ]


def sections(report: dict) -> list:
    """Everything the report shows, in order, for both renderers."""
    out: list = [
        Heading(1, f"monoscope report: {report['sae']}"),
        Para(("Hook ", Code(report["hook"]), f" ({report['basis']}), SAE with {report['d_sae']} features.")),
        Para((f"Fires: {report['fires_rule']}. Selection: {report['selection']}.",)),
        Heading(2, "1. Hypothesised contexts and 2. features vs neurons"),
        _comparison(report),
        *_goal(report),
        *_contexts(report),
        *_features_vs_neurons(report["features_vs_neurons"]),
    ]
    if "splitting" in report:
        out += _splitting(report["splitting"])
    if "universality" in report:
        out += _universality(report["universality"])
    return out + [Para(("All numbers: report.json.",))]


# ---- Markdown ---------------------------------------------------------------------------------------
def _md_example(e: dict) -> str:
    t = lambda s: s.replace("\n", "⏎").replace("`", "'")  # noqa: E731
    return f"`{t(e['left'][-25:])}[[{t(e['token'])}]]{t(e['right'][:15])}` ({e['act']:.2f}, {e['domain']})"


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md(b) -> str:
    if isinstance(b, Heading):
        return "#" * b.level + " " + b.text
    if isinstance(b, Para):
        return "".join(f"`{p.text}`" if isinstance(p, Code) else p for p in b.parts)
    if isinstance(b, Table):
        lines = ["| " + " | ".join(b.head) + " |", "|" + "---|" * len(b.head)]
        return "\n".join(lines + ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows])
    if isinstance(b, Figure):
        return f"![{b.alt}]({b.path})"
    if isinstance(b, Bullets):
        return "\n".join(f"- {x}" for x in b.items)
    if isinstance(b, Examples):
        return "  " * b.depth + f"- {b.label}: " + "; ".join(_md_example(e) for e in b.examples)
    raise TypeError(f"no Markdown for {type(b).__name__}")


def render_markdown(report: dict) -> str:
    out, prev = [], None
    for b in sections(report):
        sep = "\n" if isinstance(b, Examples) and isinstance(prev, Examples) else "\n\n"
        out.append((sep if out else "") + _md(b))
        prev = b
    return "".join(out) + "\n"


# ---- HTML -------------------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.met{background:#e6f4e6}img{max-width:100%;border:1px solid #eee}
code{background:#f4f4f4;padding:1px 3px;white-space:pre-wrap}mark{background:#ffd36b}.err{color:#a33}
.ex{font-family:monospace;font-size:12px;white-space:pre-wrap;background:#fafafa;margin:2px 0;padding:2px 4px}
.depth1{margin-left:2em}"""


def _html_example(e: dict) -> str:
    esc = lambda s: html.escape(s.replace("\n", "⏎"))  # noqa: E731
    return (
        f'<div class="ex">{esc(e["left"][-40:])}<mark>{esc(e["token"])}</mark>{esc(e["right"][:20])}'
        f" <small>({e['act']:.2f}, {html.escape(e['domain'])})</small></div>"
    )


def _html(b, folder: Path) -> str:
    e = html.escape
    if isinstance(b, Heading):
        anchor = f" id='{e(b.anchor)}'" if b.anchor else ""
        return f"<h{b.level}{anchor}>{e(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        inner = "".join(f"<code>{e(p.text)}</code>" if isinstance(p, Code) else e(p) for p in b.parts)
        return f"<p class='err'>{inner}</p>" if b.error else f"<p>{inner}</p>"
    if isinstance(b, Table):
        marked = b.marked or [False] * len(b.rows)
        rows = [
            f"<tr class='{'met' if m else ''}'>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
            for r, m in zip(b.rows, marked)
        ]
        return "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.head) + "</tr>" + "".join(rows) + "</table>"
    if isinstance(b, Figure):
        data = base64.b64encode((folder / b.path).read_bytes()).decode("ascii")
        return f'<img alt="{e(b.alt)}" src="data:image/png;base64,{data}">'
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{e(x)}</li>" for x in b.items) + "</ul>"
    if isinstance(b, Examples):
        return (
            f"<div class='depth{b.depth}'><p>{e(b.label)}</p>"
            + "".join(_html_example(x) for x in b.examples)
            + "</div>"
        )
    raise TypeError(f"no HTML for {type(b).__name__}")


def render_html(report: dict, folder: Path) -> str:
    head = f"<!doctype html><html><head><meta charset='utf-8'><title>monoscope report</title><style>{_CSS}</style>"
    body = "\n".join(_html(b, Path(folder)) for b in sections(report))
    return f"{head}</head><body>\n{body}\n</body></html>"


def write_pages(folder: Path | str) -> Path:
    """report.md and report.html beside the report.json in `folder`; returns the HTML page's path."""
    folder = Path(folder)
    report = read_json(folder / "report.json", "report")
    write_text(folder / "report.md", render_markdown(report))
    return write_text(folder / "report.html", render_html(report, folder))
