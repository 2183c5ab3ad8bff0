"""Which features a toy model keeps, by importance and sparsity (n = 20, m = 5, I_i = 0.7^i).

A linear model keeps exactly the m most important features whatever the
sparsity (it is PCA in disguise); the ReLU model, once features are sparse,
packs more than m features into m dimensions: superposition.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from monoscope import plots
from monoscope.toy.model import ToyGridConfig, feature_norms, superposition, train_toy_models

REPRESENTED = 0.5


@dataclass
class ImportanceConfig(ToyGridConfig):
    n_features: int = 20
    m_hidden: int = 5
    importance_decay: float = 0.7
    sparsities: tuple[float, ...] = (0.0, 0.7, 0.9, 0.97, 0.99, 0.997)
    steps: int = 2500
    batch_size: int = 1024
    seeds: int = 3
    seed: int = 0


def run(cfg: ImportanceConfig, out: Path, progress: bool = True) -> dict:
    n, m = cfg.n_features, cfg.m_hidden
    S = torch.tensor(cfg.sparsities, dtype=torch.float32)
    importance = cfg.importance_decay ** torch.arange(n, dtype=torch.float32)
    results = {}
    for act in ("linear", "relu"):
        tc = dataclasses.replace(cfg.train_config(), activation=act)
        res = train_toy_models(n, m, S, importance, tc, progress, f"toy importance ({act})")
        norms, sup = feature_norms(res.W), superposition(res.W)
        results[act] = {
            "res": res,
            "cells": [
                {
                    "sparsity": s,
                    "loss": float(res.loss[c]),
                    "represented": int((norms[c] > REPRESENTED).sum()),
                    "norms": [round(v, 4) for v in norms[c].tolist()],
                    "superposition": [round(v, 4) for v in sup[c].tolist()],
                }
                for c, s in enumerate(cfg.sparsities)
            ],
        }
    _plot(results, cfg, out)
    return {
        "importance": importance.tolist(),
        "linear": results["linear"]["cells"],
        "relu": results["relu"]["cells"],
        "figures": ["importance_WtW.png", "importance_norms.png"],
    }


def _plot(results: dict, cfg: ImportanceConfig, out: Path) -> None:
    plt = plots.plt
    cols = [("linear", 0)] + [("relu", c) for c in range(len(cfg.sparsities))]
    fig, axes = plt.subplots(1, len(cols), figsize=(2.4 * len(cols), 2.9), squeeze=False)
    for ax, (act, c) in zip(axes[0], cols):
        W, b = results[act]["res"].W[c], results[act]["res"].b[c]
        mat = torch.cat([W.T @ W, b[:, None]], 1)
        ax.imshow(mat.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"{act}, S={cfg.sparsities[c]:g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("WᵀW (last column: b); red +, blue −", y=1.04)
    plots.save(fig, out / "importance_WtW.png")

    fig, axes = plt.subplots(1, len(cols), figsize=(2.4 * len(cols), 3.4), squeeze=False, sharey=True)
    for ax, (act, c) in zip(axes[0], cols):
        cell = results[act]["cells"][c]
        sup = torch.tensor(cell["superposition"]).clamp(0, 1)
        ax.barh(range(cfg.n_features), cell["norms"], color=plt.cm.coolwarm(sup.numpy()))
        ax.invert_yaxis()
        ax.set_title(f"{act}, S={cfg.sparsities[c]:g}\n{cell['represented']} kept", fontsize=8)
        ax.set_xlabel("‖W_i‖", fontsize=8)
    axes[0][0].set_ylabel("feature (most important on top)")
    fig.suptitle("feature norms; colour = Σ_j≠i (Ŵ_i·W_j)² (blue: own dimension, red: superposed)", y=1.04)
    plots.save(fig, out / "importance_norms.png")
