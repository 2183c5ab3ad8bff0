"""Dimensions per feature (n = 400, m = 30, equal importance).

D* = m / ‖W‖_F² counts how many dimensions each represented feature gets. As
1/(1−S) grows it falls from 1 and sticks at 1/2 (antipodal pairs) before
falling further; per-feature D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)² cluster at the
fractions of small geometric structures: 1, 3/4, 2/3, 1/2, 2/5, 3/8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from monoscope import plots
from monoscope.toy.model import ToyGridConfig, dimensions_per_feature, dims_per_feature_total, train_toy_models

FRACTIONS = {"1": 1.0, "3/4": 0.75, "2/3": 2 / 3, "1/2": 0.5, "2/5": 0.4, "3/8": 0.375}
REPRESENTED = 0.5


def default_sparsities() -> tuple[float, ...]:
    inv = np.geomspace(1.0, 12.0, 10)  # 1/(1-S): dense, the 1/2 plateau, and the smaller fractions beyond
    return tuple(round(float(1 - 1 / v), 6) for v in inv)


@dataclass
class DimensionalityConfig(ToyGridConfig):
    n_features: int = 400
    m_hidden: int = 30
    sparsities: tuple[float, ...] = default_sparsities()
    steps: int = 1800
    batch_size: int = 128
    seeds: int = 1
    seed: int = 0


def run(cfg: DimensionalityConfig, out: Path, progress: bool = True) -> dict:
    n, m = cfg.n_features, cfg.m_hidden
    S = torch.tensor(cfg.sparsities, dtype=torch.float32)
    res = train_toy_models(n, m, S, torch.ones(n), cfg.train_config(), progress, "toy dimensionality")
    d_star = dims_per_feature_total(res.W)
    d_i = dimensions_per_feature(res.W)
    norms = res.W.norm(dim=-2)
    cells = []
    for c, s in enumerate(cfg.sparsities):
        keep = norms[c] > REPRESENTED
        di = d_i[c][keep]
        near = {k: int(((di - v).abs() < 0.02).sum()) for k, v in FRACTIONS.items()}
        cells.append(
            {
                "sparsity": s,
                "inv_density": 1 / (1 - s),
                "d_star": float(d_star[c]),
                "represented": int(keep.sum()),
                "loss": float(res.loss[c]),
                "near_fraction": near,
                "d_i": [round(v, 4) for v in di.tolist()],
            }
        )
    _plot(cells, cfg, out)
    return {"cells": cells, "figures": ["dimensionality.png"]}


def _plot(cells: list[dict], cfg: DimensionalityConfig, out: Path) -> None:
    plt = plots.plt
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 6.4), sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    x = [c["inv_density"] for c in cells]
    a1.plot(x, [c["d_star"] for c in cells], "k.-")
    for v in (1.0, 0.5):
        a1.axhline(v, color="0.7", ls="--", lw=0.8)
    a1.set_ylabel("D* = m / ‖W‖_F²")
    a1.set_title(f"dimensions per feature, n = {cfg.n_features}, m = {cfg.m_hidden}")
    for c in cells:
        a2.scatter(
            np.full(len(c["d_i"]), c["inv_density"]) * np.exp(np.random.default_rng(0).normal(0, 0.03, len(c["d_i"]))),
            c["d_i"],
            s=3,
            alpha=0.4,
            color="#1f77b4",
        )
    for k, v in FRACTIONS.items():
        a2.axhline(v, color="0.7", ls="--", lw=0.6)
        a2.text(x[-1] * 1.08, v, k, va="center", fontsize=8)
    a2.set_xscale("log")
    a2.set_xlabel("1 / (1 − S)")
    a2.set_ylabel("D_i (represented features)")
    a2.set_ylim(0, 1.1)
    plots.save(fig, out / "dimensionality.png")
