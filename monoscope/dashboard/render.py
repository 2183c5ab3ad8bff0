"""HTML for the feature list, feature pages, search and live pages, shared by the static site and the server.

Every piece of text that came from a corpus or a user is escaped here; links
come from a `Links` object so the same pages work from disk and over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from monoscope.dashboard.assets import CSS, LIVE_JS
from monoscope.dashboard.svg import histogram
from monoscope.features.store import FeatureStore, visible


@dataclass
class Links:
    feature: Callable[[int], str]
    home: str
    search: str | None = None
    live: str | None = None
    inline_assets: bool = True  # inline CSS/JS in the page, or link them from `assets`
    assets: str = "/static/"  # where linked style.css and app.js live (the server's /static/, a folder on disk)


# Inside <script> the HTML parser ends the element at "</script", and "<!--" opens a comment that can swallow it;
# U+2028/2029 end a line in old JavaScript parsers. Escaping these characters keeps the JSON inert there.
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(obj) -> str:
    """JSON that is safe inside a <script type="application/json"> element, whatever strings it carries."""
    return json.dumps(obj).translate(_SCRIPT_ESCAPES)


def layout(title: str, body: str, links: Links, scripts: str = "") -> str:
    nav = ["<b>monoscope</b>", f'<a href="{links.home}">features</a>']
    if links.search:
        nav.append(f'<a href="{links.search}">search</a>')
    if links.live:
        nav.append(f'<a href="{links.live}">live text</a>')
    if links.inline_assets:
        style = f"<style>{CSS}</style>"
        js = f"<script>{scripts}</script>" if scripts else ""
    else:
        style = f'<link rel="stylesheet" href="{links.assets}style.css">'
        js = f'<script src="{links.assets}app.js"></script>' if scripts else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,">{style}</head>'
        f"<body><header>{' '.join(nav)}</header><main>{body}</main>{js}</body></html>"
    )


def _tok_span(text: str, act: float | None, max_act: float, loss: float | None = None, peak: bool = False) -> str:
    cls = ["tok"]
    style = ""
    tip = []
    if act is not None and act > 0:
        a = min(1.0, act / max_act) if max_act > 0 else 1.0
        style = f' style="background:rgba(255,128,0,{0.1 + 0.8 * a:.3f})"'
        tip.append(f"act {act:.4g}")
    if loss is not None and abs(loss) > 1e-4:
        cls.append("up" if loss > 0 else "down")
        tip.append(f"Δloss if ablated {loss:+.4f}")
    if peak:
        cls.append("peak")
    title = f' title="{escape(" · ".join(tip))}"' if tip else ""
    return f'<span class="{" ".join(cls)}"{style}{title}>{escape(visible(text) if text.strip() == "" else text)}</span>'


def example_html(ex: dict, vocab: list[str], max_act: float, domains: list[str] | None) -> str:
    peak = ex["col"] - ex["start"]
    loss = ex.get("loss") or [None] * len(ex["tokens"])
    spans = "".join(
        _tok_span(vocab[t], a, max_act, tok_loss, j == peak)
        for j, (t, a, tok_loss) in enumerate(zip(ex["tokens"], ex["acts"], loss))
    )
    dom = ""
    if domains and 0 <= ex["doc"] < len(domains):
        dom = f" ({escape(domains[ex['doc']])})"
    where = f"act {ex['act']:.4g} · doc {ex['doc']}{dom} pos {ex['pos']} · context row {ex['row']} col {ex['col']}"
    return f'<div class="ex">{spans}<div class="meta">{where}</div></div>'


def _token_list(pairs: list, vocab: list[str], cls: str) -> str:
    return "".join(
        f'<span class="pill {cls}">{escape(visible(vocab[t]))} <span class="muted">{v:+.3f}</span></span>'
        for t, v in pairs
    )


def _feature_list(pairs: list, links: Links, fmt: str = "{:.3f}") -> str:
    if not pairs:
        return '<span class="muted">none</span>'
    return " ".join(
        f'<a class="pill" href="{links.feature(j)}">#{j}</a><span class="muted">{fmt.format(v)}</span>'
        for j, v in pairs
    )


def feature_page(store: FeatureStore, i: int, links: Links) -> str | None:
    f = store.feature(i)
    if f is None:
        return None
    p, vocab, meta = f["panels"], store.vocab, store.meta
    top, quant = store.top_examples(i), store.quantile_examples(i)
    domains = meta.get("domains")
    m = f["max_act"]
    head = (
        f"<h2>feature #{i}</h2><p>density {f['density']:.3e} ({f['n_active']} of {meta['n_tokens']} tokens of the "
        f"{escape(meta['split'])} split) · max activation {m:.4g} · mean when active {f['mean_act']:.4g} · "
        f"SAE <code>{escape(meta['sae_path'])}</code> at <code>{escape(meta['hook'])}</code></p>"
    )
    hist = p["hist"]
    panels = [
        f'<div class="panel" id="act-hist"><h3>activation histogram</h3>'
        f"{histogram(hist['edges'], hist['counts'], 'activation histogram')}"
        f'<div class="meta">non-zero activations, linear bins</div></div>'
    ]
    lg = p.get("logits")
    if lg:
        panels.append(
            f'<div class="panel" id="logits"><h3>logit effects (direct path)</h3>'
            f"<div>promotes: {_token_list(lg['top'], vocab, 'pos')}</div>"
            f"<div>suppresses: {_token_list(lg['bottom'], vocab, 'neg')}</div>"
            f"{histogram(lg['hist']['edges'], lg['hist']['counts'], 'logit effect histogram', '#8e44ad', log=True)}"
            f'<div class="meta">effect on every token\'s logit, log10(1+count) bars</div></div>'
        )
    else:
        why = meta.get("logit_effects_note") or "not available for this hook"
        panels.append(
            f'<div class="panel" id="logits"><h3>logit effects</h3><span class="muted">{escape(why)}</span></div>'
        )
    panels.append(
        '<div class="panel" id="neighbours"><h3>nearest features (decoder cosine)</h3>'
        f"{_feature_list(p['neighbours'], links)}</div>"
    )
    panels.append(
        '<div class="panel" id="corr-features">'
        f"<h3>correlated features (activation, first {meta.get('corr_tokens')} tokens)</h3>"
        f"{_feature_list(p['corr_features'], links)}</div>"
    )
    neu = " ".join(f'<span class="pill">n{j} <span class="muted">{v:+.3f}</span></span>' for j, v in p["neurons"])
    cn = (
        " ".join(f'<span class="pill">n{j} <span class="muted">{v:+.3f}</span></span>' for j, v in p["corr_neurons"])
        or '<span class="muted">none</span>'
    )
    panels.append(
        f'<div class="panel" id="neurons"><h3>neuron alignment</h3><div>decoder weight: {neu}</div>'
        f"<div>activation correlation: {cn}</div></div>"
    )
    tops = "".join(example_html(e, vocab, m, domains) for e in top) or '<p class="muted">never active: no examples</p>'
    by_bin: dict[int, list[dict]] = {}
    for e in quant:
        by_bin.setdefault(e["bin"], []).append(e)
    nb = meta["config"]["quantile_bins"]
    qs = "".join(
        f"<h4>activation in [{b / nb:.1f}, {(b + 1) / nb:.1f}) × max</h4>"
        + "".join(example_html(e, vocab, m, domains) for e in by_bin[b])
        for b in sorted(by_bin, reverse=True)
    )
    legend = (
        '<p class="meta">orange: activation (relative to the max); boxed: the example\'s token; underline: change in '
        "loss of predicting that token when the feature is ablated in the window "
        "(red: loss rises, so the feature helped; blue: loss falls). Hover a token for numbers.</p>"
    )
    body = (
        head + f'<div class="grid">{"".join(panels)}</div>'
        f'<div class="panel" id="top-examples"><h3>top activations</h3>{legend}{tops}</div>'
        '<div class="panel" id="quantiles"><h3>samples from activation intervals</h3>'
        f"{qs or '<p class=muted>none</p>'}</div>"
    )
    return layout(f"feature {i}", body, links)


def list_rows_html(rows: list[dict], links: Links) -> str:
    return "".join(
        f'<tr><td><a href="{links.feature(r["id"])}">#{r["id"]}</a></td><td>{r["density"]:.2e}</td>'
        f"<td>{r['max_act']:.3f}</td><td>{escape(r['label'] or '')}</td></tr>"
        for r in rows
    )


def server_index(store: FeatureStore, links: Links, sort: str, desc: bool, offset: int, limit: int) -> str:
    rows = store.list(sort=sort, limit=limit, offset=offset, descending=desc)
    n = store.count()

    def sort_link(key, label):
        d = (not desc) if key == sort else key != "index"
        return f'<a href="/?sort={key}&desc={int(d)}">{label}</a>'

    pager = []
    if offset > 0:
        pager.append(f'<a href="/?sort={sort}&desc={int(desc)}&offset={max(0, offset - limit)}">previous</a>')
    pager.append(f"<span>{offset + 1}–{min(n, offset + limit)} of {n}</span>")
    if offset + limit < n:
        pager.append(f'<a href="/?sort={sort}&desc={int(desc)}&offset={offset + limit}" id="next">next</a>')
    body = (
        f'<h2>{n} features</h2><p class="muted">SAE {escape(store.meta["sae_path"])} · sorted by {sort}'
        f'{" (descending)" if desc else ""}</p><table id="feature-table"><thead class="sort"><tr>'
        f"<th>{sort_link('index', 'index')}</th><th>{sort_link('density', 'density')}</th>"
        f"<th>{sort_link('max_act', 'max activation')}</th><th>top tokens</th></tr></thead>"
        f'<tbody id="feature-rows">{list_rows_html(rows, links)}</tbody></table><p class="pager">{"".join(pager)}</p>'
    )
    return layout("features", body, links)


def search_page(store: FeatureStore, q: str, links: Links) -> str:
    hits = store.search_token(q) if q else []
    form = (
        f'<form method="get" action="/search"><input name="q" value="{escape(q)}" placeholder="token text, e.g. def">'
        f" <button>search</button></form>"
    )
    if q and not hits:
        res = f'<p class="muted">no feature found for {escape(repr(q))}</p>'
    else:
        res = "".join(
            f'<tr><td><a href="{links.feature(h["feature"])}">#{h["feature"]}</a></td>'
            f"<td>{escape(visible(h['token_text']))}</td>"
            f"<td>{'peaks on it' if h['kind'] == 'act' else 'promotes it (logits)'}</td><td>{h['score']:.3f}</td>"
            f"<td>{escape(h['label'] or '')}</td></tr>"
            for h in hits
        )
        res = (
            '<table id="search-results">'
            f"<tr><th>feature</th><th>token</th><th>how</th><th>score</th><th>top tokens</th></tr>{res}</table>"
            if hits
            else ""
        )
    return layout(f"search {q}", f"<h2>search features by token</h2>{form}{res}", links)


def live_page(store: FeatureStore, links: Links, max_chars: int) -> str:
    max_acts = script_json([round(m, 5) for m in store.max_acts()])
    body = (
        f'<h2>type text, see the active features</h2><form id="live-form"><textarea id="live-text" rows="5" '
        f'maxlength="{max_chars}" placeholder="def main():"></textarea><br>'
        '<button id="live-run">show features</button> '
        f'<span id="live-status" class="muted"></span></form>'
        f'<div class="grid"><div class="panel ex" id="live-tokens"></div><div class="panel" id="live-features">'
        f'<span class="muted">click a token to list its features</span></div></div>'
        f'<script type="application/json" id="max-acts">{max_acts}</script>'
    )
    return layout("live text", body, links, LIVE_JS)


def not_found_page(what: str, links: Links) -> str:
    return layout(
        "not found", f'<h2>not found</h2><p>{escape(what)}</p><p><a href="{links.home}">all features</a></p>', links
    )
