"""An attribution graph as files: graph.json (the pruned nodes and links, the scores) and graph.html (an offline
SVG page: no script, no network).

Edges are pruned as circuit-tracer does after its node pruning: edge score = |Â| (rows normalised, pruned nodes
removed) times the influence of the edge's target row (plus the target weight); keep the edges carrying
`edge_threshold` of the total score.
"""

from __future__ import annotations

from pathlib import Path

import torch

from monoscope.circuits.graph import (
    Graph,
    compute_influence,
    find_threshold,
    graph_scores,
    normalize_matrix,
    prune,
    target_weights,
)
from monoscope.io import write_json, write_text


def edge_mask(g: Graph, node_mask: torch.Tensor, edge_threshold: float) -> torch.Tensor:
    A = g.adjacency * node_mask[:, None] * node_mask[None, :]
    An = normalize_matrix(A)
    w = target_weights(g)
    scores = An * (compute_influence(An, w) + w)[:, None]
    nz = scores[scores > 0]
    if not len(nz):
        return scores > 0
    return (scores >= find_threshold(nz, edge_threshold)) & (scores > 0)


def graph_record(
    g: Graph, token_strs: list[str], node_threshold: float = 0.8, edge_threshold: float = 0.98, prompt: str = ""
) -> dict:
    """The pruned graph as JSON-ready data: nodes (with influence), links (source -> target, weight), scores."""
    pr = prune(g, node_threshold)
    keep = pr.node_mask
    em = edge_mask(g, keep, edge_threshold)
    ids = keep.nonzero().flatten().tolist()
    nodes = []
    for i in ids:
        n = g.node_label(i)
        n["id"] = i
        n["influence"] = float(pr.influence[i])
        if n["kind"] == "token":
            n["text"] = token_strs[n["pos"]]
        nodes.append(n)
    tgt, src = em.nonzero(as_tuple=True)
    links = [
        {"source": int(s), "target": int(t), "weight": float(g.adjacency[t, s])}
        for t, s in zip(tgt.tolist(), src.tolist())
    ]
    return {
        "format": "monoscope-attribution/1",
        "prompt": prompt,
        "tokens": token_strs,
        "token_ids": g.tokens,
        "target": {
            "label": g.target.label,
            "token": g.target.token,
            "layer": g.target.layer,
            "feature": g.target.feature,
            "value": g.target_value,
        },
        "n_layers": g.n_layers,
        "node_threshold": node_threshold,
        "edge_threshold": edge_threshold,
        "unpruned": {
            "features": g.n_features,
            "nodes": g.n_nodes,
            "edges": int((g.adjacency != 0).sum()),
            **graph_scores(g),
        },
        "pruned": {"nodes": len(nodes), "edges": len(links), **graph_scores(g, keep)},
        "seconds": round(g.seconds, 3),
        "nodes": nodes,
        "links": links,
    }


def write_graph(rec: dict, out: Path | str, feature_pages: dict[int, str] | None = None) -> tuple[Path, Path]:
    """graph.json and graph.html in `out`; `feature_pages[layer]`: a dashboard folder (relative to `out` or
    absolute) whose feature.html#<i> each feature node links to."""
    from monoscope.circuits.page import render_page

    out = Path(out)
    j = write_json(out / "graph.json", rec)
    h = write_text(out / "graph.html", render_page(rec, feature_pages or {}))
    return j, h
