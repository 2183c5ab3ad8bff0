"""The offline page of an attribution graph: one inline SVG, positions left to right, layers bottom to top.

Tokens sit on the bottom row, each layer's kept features and error nodes on its own band, the target on top.
Edge width follows |weight| (relative to the largest), blue for positive and red for negative; every node and edge
carries a <title> tooltip, and a feature node links to its page in a feature dashboard when one is given.
"""

from __future__ import annotations

from html import escape

from monoscope.dashboard.assets import CSS


def _node_text(n: dict) -> str:
    if n["kind"] == "feature":
        where = f"L{n['layer']} feature {n['feature']} @ {n['pos']}"
        return f"{where}: act {n['activation']:.3g}, influence {n['influence']:.3g}"
    if n["kind"] == "error":
        return f"L{n['layer']} error @ {n['pos']}: influence {n['influence']:.3g}"
    if n["kind"] == "token":
        return f"token {n['text']!r} @ {n['pos']}"
    return f"target {n['label']}"


def render_page(rec: dict, feature_pages: dict[int, str]) -> str:
    T, n_layers = len(rec["tokens"]), rec["n_layers"]
    col, band, pad = 64, 110, 40
    width, height = pad * 2 + col * T, pad * 2 + band * (n_layers + 1) + 40
    rows: dict[tuple[int, int], list[dict]] = {}
    for n in rec["nodes"]:
        level = {"token": 0, "target": n_layers + 1}.get(n["kind"], n.get("layer", 0) + 1)
        rows.setdefault((level, n["pos"]), []).append(n)
    xy = {}
    for (level, pos), ns in rows.items():
        ns.sort(key=lambda n: -n["influence"])
        for j, n in enumerate(ns):
            x = pad + col * pos + col / 2 + (j % 3 - 1) * 16
            y = height - pad - band * level * (0.9 if level == n_layers + 1 else 1) - (j // 3) * 16
            xy[n["id"]] = (x, y)
    top = max((abs(link["weight"]) for link in rec["links"]), default=1.0) or 1.0
    parts = []
    for link in sorted(rec["links"], key=lambda e: abs(e["weight"])):
        if link["source"] not in xy or link["target"] not in xy:
            continue
        (x1, y1), (x2, y2) = xy[link["source"]], xy[link["target"]]
        w = 0.3 + 3.5 * abs(link["weight"]) / top
        color = "#2b6cb0" if link["weight"] > 0 else "#c53030"
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="{w:.2f}" stroke-opacity="0.55"><title>{link["weight"]:.4g}</title></line>'
        )
    shapes = {"feature": "#4a5568", "error": "#d69e2e", "token": "#38a169", "target": "#805ad5"}
    for n in rec["nodes"]:
        x, y = xy[n["id"]]
        title = escape(_node_text(n))
        if n["kind"] == "error":
            dot = (
                f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{shapes["error"]}">'
                f"<title>{title}</title></rect>"
            )
        else:
            r = 8 if n["kind"] in ("token", "target") else 6
            dot = (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{shapes[n["kind"]]}"><title>{title}</title></circle>'
            )
        if n["kind"] == "feature" and n["layer"] in feature_pages:
            href = escape(f"{feature_pages[n['layer']].rstrip('/')}/feature.html#{n['feature']}")
            dot = f'<a href="{href}">{dot}</a>'
        parts.append(dot)
    for p, tok in enumerate(rec["tokens"]):
        parts.append(
            f'<text x="{pad + col * p + col / 2:.1f}" y="{height - pad + 24}" text-anchor="middle" '
            f'font-size="11">{escape(tok)}</text>'
        )
    for level in range(1, n_layers + 1):
        parts.append(f'<text x="4" y="{height - pad - band * level + 4}" font-size="11">L{level - 1}</text>')
    svg = (
        f'<svg role="img" aria-label="attribution graph" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
    s = rec["pruned"]
    u = rec["unpruned"]
    head = (
        f"<h1>Attribution graph: {escape(rec['target']['label'])}</h1>"
        f"<p>{escape(rec['prompt'])}</p>"
        f"<p>pruned to {s['nodes']} nodes and {s['edges']} edges (node threshold {rec['node_threshold']}, edge "
        f"threshold {rec['edge_threshold']}) of {u['nodes']} nodes; replacement score {s['replacement_score']:.3f} "
        f"(unpruned {u['replacement_score']:.3f}), completeness {s['completeness_score']:.3f} "
        f"(unpruned {u['completeness_score']:.3f}). Green: tokens; grey: features; amber squares: error nodes; "
        f"purple: the target. Blue edges excite, red inhibit.</p>"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(rec["target"]["label"])}</title>'
        f'<style>{CSS}</style></head><body>{head}<div style="overflow-x:auto">{svg}</div></body></html>'
    )
