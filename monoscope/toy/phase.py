"""Phase diagram of superposition for n = 2 features in m = 1 dimension.

Feature 1 has importance 1, the extra feature 2 importance r (0.1–10); both
share a density 1 − S (1–0.01). The trained model either ignores feature 2,
gives it the dimension alone (dedicated), or stores both antipodally
(superposition). One batched training run covers the whole grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from monoscope import plots
from monoscope.errors import MonoscopeError
from monoscope.toy.checks import check_positive, check_sizes
from monoscope.toy.model import ToyTrainConfig, check_toy_grid, train_toy_models

PHASES = ("ignored", "antipodal", "dedicated")
REPRESENTED = 0.5


@dataclass
class PhaseConfig:
    n_features: int = 2
    m_hidden: int = 1
    importance_min: float = 0.1
    importance_max: float = 10.0
    density_min: float = 0.01
    density_max: float = 1.0
    grid: int = 11  # points per axis
    steps: int = 2000
    batch_size: int = 512
    seeds: int = 3
    seed: int = 0

    def __post_init__(self):
        check_sizes(self.n_features, self.m_hidden)
        if (self.n_features, self.m_hidden) != (2, 1):
            raise MonoscopeError(
                f"the phase diagram is for n=2 features in m=1 dimension, got n={self.n_features}, m={self.m_hidden}"
            )
        check_positive(importance_min=self.importance_min, density_min=self.density_min, grid=self.grid)
        if not (self.importance_min < self.importance_max and self.density_min < self.density_max <= 1.0):
            raise MonoscopeError(
                "need importance_min < importance_max and 0 < density_min < density_max <= 1 (density = 1 - S)"
            )
        check_toy_grid(self.grid**2, self.n_features, self.m_hidden, self.train_config())

    def train_config(self) -> ToyTrainConfig:
        return ToyTrainConfig(steps=self.steps, batch_size=self.batch_size, seeds=self.seeds, seed=self.seed)


def classify(W: torch.Tensor) -> str:
    """Phase of the extra feature (index 1) in a model W [1, 2]."""
    n1, n2 = float(W[:, 0].norm()), float(W[:, 1].norm())
    if n2 < REPRESENTED:
        return "ignored"
    if n1 >= REPRESENTED and float(W[:, 0] @ W[:, 1]) < 0:
        return "antipodal"
    return "dedicated"


def run(cfg: PhaseConfig, out: Path, progress: bool = True) -> dict:
    imps = np.geomspace(cfg.importance_min, cfg.importance_max, cfg.grid)
    dens = np.geomspace(cfg.density_max, cfg.density_min, cfg.grid)
    ii, dd = np.meshgrid(imps, dens, indexing="ij")  # rows: importance, cols: density
    sparsity = torch.tensor(1 - dd.ravel(), dtype=torch.float32)
    importance = torch.stack([torch.ones(len(sparsity)), torch.tensor(ii.ravel(), dtype=torch.float32)], 1)
    res = train_toy_models(2, 1, sparsity, importance, cfg.train_config(), progress, "toy phase")
    phases = [classify(W) for W in res.W]
    grid = np.array([PHASES.index(p) for p in phases]).reshape(cfg.grid, cfg.grid)
    _plot(grid, imps, dens, out / "phase.png")
    return {
        "importance": imps.tolist(),
        "density": dens.tolist(),
        "phase": [[PHASES[v] for v in row] for row in grid.tolist()],
        "counts": {p: phases.count(p) for p in PHASES},
        "W": res.W[:, 0, :].tolist(),
        "figures": ["phase.png"],
    }


def _plot(grid: np.ndarray, imps: np.ndarray, dens: np.ndarray, path: Path) -> None:
    plt = plots.plt
    from matplotlib.colors import ListedColormap

    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    cmap = ListedColormap(["#d9d9d9", "#d62728", "#1f77b4"])
    ax.pcolormesh(dens, imps, grid, cmap=cmap, vmin=-0.5, vmax=2.5, shading="nearest")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("feature density 1 − S")
    ax.set_ylabel("relative importance of feature 2")
    ax.legend(
        handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in cmap.colors],
        labels=["feature 2 ignored", "antipodal (superposition)", "feature 2 dedicated"],
        fontsize=8,
        loc="lower left",
    )
    ax.set_title("n = 2 features, m = 1 dimension")
    plots.save(fig, path)
