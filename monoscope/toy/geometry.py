"""Five features in two dimensions (Elhage et al.'s first figure, I_i = 0.9^i).

As sparsity grows the model goes from an orthogonal pair (dense: keep the two
most important features) to two antipodal pairs (S ≈ 0.8) to a regular
pentagon (S ≈ 0.9): more features than dimensions, stored in superposition.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from monoscope import plots
from monoscope.toy.model import ToyGridConfig, feature_norms, train_toy_models

REPRESENTED = 0.5  # a feature counts as kept when ‖W_i‖ exceeds this


@dataclass
class GeometryConfig(ToyGridConfig):
    n_features: int = 5
    m_hidden: int = 2
    importance_decay: float = 0.9
    sparsities: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95)
    steps: int = 2000
    batch_size: int = 1024
    seeds: int = 4
    seed: int = 0


def describe(W: torch.Tensor) -> dict:
    """Shape of a 2-D embedding W [2, n]: kept features, their angles and the gaps between consecutive ones."""
    norms = feature_norms(W[None])[0]
    angles = torch.rad2deg(torch.atan2(W[1], W[0]))
    kept = (norms > REPRESENTED).nonzero().flatten()
    a = torch.sort(angles[kept]).values
    gaps = torch.diff(torch.cat([a, a[:1] + 360])) if len(a) > 1 else torch.zeros(0)

    def all_near(x: torch.Tensor, target: float, tol: float) -> bool:
        return bool(len(x)) and bool((x - target).abs().max() <= tol)

    k = len(kept)
    antipodal = k > 0 and all(
        ((angles[kept] - angles[i]).remainder(360) - 180).abs().min() <= 10 for i in kept.tolist()
    )
    if k == 2 and all_near(gaps, 180, 10):
        shape = "antipodal pair"
    elif k == 2 and bool(((gaps - 90).abs() <= 10).any()):
        shape = "orthogonal pair"
    elif k == 4 and all_near(gaps, 90, 10) and antipodal:
        shape = "antipodal pairs"
    elif k == 5 and all_near(gaps, 72, 5):
        shape = "pentagon"
    else:
        shape = "other"
    return {
        "shape": shape,
        "represented": k,
        "norms": norms.tolist(),
        "angles_deg": angles.tolist(),
        "gaps_deg": gaps.tolist(),
    }


def run(cfg: GeometryConfig, out: Path, progress: bool = True) -> dict:
    n, m = cfg.n_features, cfg.m_hidden
    importance = cfg.importance_decay ** torch.arange(n, dtype=torch.float32)
    res = train_toy_models(n, m, torch.tensor(cfg.sparsities), importance, cfg.train_config(), progress, "toy geometry")
    cells = [
        {"sparsity": s, "loss": float(res.loss[c]), **describe(res.W[c]), "W": res.W[c].tolist()}
        for c, s in enumerate(cfg.sparsities)
    ]
    if m == 2:
        _plot(cells, importance.tolist(), Path(out) / "geometry.png")
    return {"importance": importance.tolist(), "cells": cells, "figures": ["geometry.png"] if m == 2 else []}


def _plot(cells: list[dict], imp: list[float], path: Path) -> None:
    plt = plots.plt
    fig, axes = plt.subplots(1, len(cells), figsize=(2.6 * len(cells), 2.9), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, cell in zip(axes[0], cells):
        W = torch.tensor(cell["W"])
        for i in range(W.shape[1]):
            c = cmap(0.85 * (1 - (imp[i] - min(imp)) / max(1e-9, max(imp) - min(imp))))
            ax.plot([0, W[0, i]], [0, W[1, i]], color=c, lw=2)
            ax.plot(W[0, i], W[1, i], "o", color=c, ms=4)
        lim = max(1.2, float(W.abs().max()) * 1.1)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.add_patch(plt.Circle((0, 0), 1, fill=False, ls=":", color="grey"))
        ax.set_title(f"S={cell['sparsity']:g}\n{cell['shape']} ({cell['represented']} kept)", fontsize=9)
    fig.suptitle("5 features in 2 dimensions: columns of W (darker = more important)")
    plots.save(fig, path)
