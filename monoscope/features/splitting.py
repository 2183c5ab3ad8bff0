"""Feature splitting and geometry: SAEs of several sizes on the same activations.

Features of a smaller and a larger dictionary are matched by the correlation
of their activations on the same tokens (and compared by decoder cosine). A
*family* is a small-SAE feature that several large-SAE features map back to:
one feature becoming several, as in Bricken et al. (2023). A UMAP of all
decoder directions (cosine metric) shows the sizes and the domains they cover.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monoscope.errors import MonoscopeError
from monoscope.features.contexts import TokenTable


def check_same_source(saes: list, names: list[str]) -> None:
    """SAEs compared for splitting must read the same hook of the same model."""
    ref = saes[0].cfg.metadata
    for sae, name in zip(saes[1:], names[1:]):
        m = sae.cfg.metadata
        if m.get("hook_name") != ref.get("hook_name"):
            raise MonoscopeError(
                f"cannot compare SAEs on different hooks: {names[0]} reads {ref.get('hook_name')!r}, "
                f"{name} reads {m.get('hook_name')!r}"
            )
        a, b = ref.get("model_path"), m.get("model_path")
        if a and b and Path(a).resolve() != Path(b).resolve():
            raise MonoscopeError(
                f"cannot compare SAEs of different models: {names[0]} was trained on {a}, {name} on {b}"
            )
        if sae.d_in != saes[0].d_in:
            raise MonoscopeError(
                f"cannot compare SAEs of different widths: {names[0]} d_in={saes[0].d_in}, {name} d_in={sae.d_in}"
            )


def _moments(F) -> tuple[np.ndarray, np.ndarray]:
    n = F.shape[0]
    mu = np.asarray(F.mean(axis=0)).ravel()
    sd = np.sqrt(np.maximum(np.asarray(F.multiply(F).sum(axis=0)).ravel() - n * mu**2, 0))
    return mu, sd


def feature_correlations(A, B) -> np.ndarray:
    """Pearson correlation [d_A, d_B] between the features of two sparse activation matrices on the same tokens."""
    if A.shape[0] != B.shape[0]:
        raise MonoscopeError(f"activation matrices cover different tokens ({A.shape[0]} vs {B.shape[0]})")
    n = A.shape[0]
    (ma, sa), (mb, sb) = _moments(A), _moments(B)
    cross = (A.T @ B).toarray() - n * np.outer(ma, mb)
    den = np.outer(sa, sb)
    return np.divide(cross, den, out=np.zeros_like(cross), where=den > 0)


def decoder_cosines(WA: np.ndarray, WB: np.ndarray) -> np.ndarray:
    a = WA / np.maximum(np.linalg.norm(WA, axis=1, keepdims=True), 1e-12)
    b = WB / np.maximum(np.linalg.norm(WB, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def match_sizes(A, B, WA: np.ndarray, WB: np.ndarray, min_fires: int = 10) -> dict:
    """Match every live feature of the larger SAE B to its best-correlated feature of the smaller SAE A."""
    corr = feature_correlations(A, B)
    cos = decoder_cosines(WA, WB)
    live_a, live_b = np.diff(A.indptr) >= min_fires, np.diff(B.indptr) >= min_fires
    corr[~live_a, :] = -1.0
    parent = corr.argmax(0)
    best = corr[parent, np.arange(corr.shape[1])]
    pcos = cos[parent, np.arange(cos.shape[1])]
    best_cos = cos[live_a].max(0) if live_a.any() else np.zeros(cos.shape[1])
    return {
        "d_small": int(A.shape[1]),
        "d_large": int(B.shape[1]),
        "n_live_small": int(live_a.sum()),
        "n_live_large": int(live_b.sum()),
        "parent": parent.tolist(),
        "parent_corr": best.tolist(),
        "parent_cos": pcos.tolist(),
        "live_large": live_b.tolist(),
        "median_parent_corr": float(np.median(best[live_b])) if live_b.any() else None,
        "median_parent_cos": float(np.median(pcos[live_b])) if live_b.any() else None,
        "median_best_cos": float(np.median(best_cos[live_b])) if live_b.any() else None,
        "share_matched_corr_0.5": float((best[live_b] >= 0.5).mean()) if live_b.any() else None,
    }


def families(match: dict, min_corr: float = 0.4, min_children: int = 2, limit: int = 8) -> list[dict]:
    """Small features that several large features map back to (corr ≥ min_corr), largest families first."""
    kids: dict[int, list[dict]] = {}
    for j, (p, c, cs, live) in enumerate(
        zip(match["parent"], match["parent_corr"], match["parent_cos"], match["live_large"])
    ):
        if live and c >= min_corr:
            kids.setdefault(int(p), []).append({"index": j, "corr": float(c), "cos": float(cs)})
    fams = [
        {"parent": p, "children": sorted(ch, key=lambda r: -r["corr"])}
        for p, ch in kids.items()
        if len(ch) >= min_children
    ]
    fams.sort(key=lambda f: (-len(f["children"]), -np.mean([c["corr"] for c in f["children"]])))
    return fams[:limit]


def n_families(match: dict, min_corr: float = 0.4, min_children: int = 2) -> int:
    return len(families(match, min_corr, min_children, limit=10**9))


def top_examples(F, j: int, table: TokenTable, k: int = 4) -> list[dict]:
    """The k highest activations of feature j, each with its text around the token."""
    lo, hi = F.indptr[j], F.indptr[j + 1]
    rows, vals = F.indices[lo:hi], F.data[lo:hi]
    out = []
    for i in np.argsort(-vals)[:k]:
        left, tok, right = table.snippet(int(rows[i]))
        out.append(
            {"act": float(vals[i]), "left": left, "token": tok, "right": right, "domain": str(table.domain[rows[i]])}
        )
    return out


def dominant_domains(F, table: TokenTable) -> list[str]:
    """For each feature, the domain holding most of its activation mass ('none' when it never fires)."""
    labels = sorted(set(table.domain.tolist()))
    code = np.searchsorted(labels, table.domain.astype(str))
    col = np.repeat(np.arange(F.shape[1]), np.diff(F.indptr))
    mass = np.zeros((F.shape[1], len(labels)))
    np.add.at(mass, (col, code[F.indices]), F.data)
    return [labels[i] if mass[k].sum() > 0 else "none" for k, i in enumerate(mass.argmax(1))]


def umap_embed(W: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-D UMAP (cosine metric) of decoder directions."""
    try:
        import umap
    except ImportError:
        raise MonoscopeError("the UMAP figure needs umap-learn; install monoscope[science]") from None
    if len(W) < 4:
        raise MonoscopeError(f"UMAP needs at least 4 decoder directions, got {len(W)}")
    reducer = umap.UMAP(
        n_neighbors=min(n_neighbors, len(W) - 1),
        min_dist=0.1,
        metric="cosine",
        random_state=seed,
        init="random" if len(W) < 50 else "spectral",
    )
    return reducer.fit_transform(np.asarray(W, dtype=np.float32))


def plot_umap(xy: np.ndarray, sizes: list[int], domains: list[str], path: Path | str) -> Path:
    from monoscope.plots import plt, save

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, key, title in ((axes[0], sizes, "dictionary size"), (axes[1], domains, "dominant domain")):
        cats = sorted(set(key), key=lambda c: (isinstance(c, str), c))
        cmap = plt.get_cmap("tab10")
        for i, c in enumerate(cats):
            sel = np.array([k == c for k in key])
            ax.scatter(xy[sel, 0], xy[sel, 1], s=3, alpha=0.6, color=cmap(i % 10), label=f"{c} ({int(sel.sum())})")
        ax.set_title(f"UMAP of decoder directions (cosine), by {title}")
        ax.legend(fontsize=7, markerscale=4, loc="best")
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, path)
