"""Compressed sensing: recover a k-sparse x ∈ Rⁿ from y = A x with m < n Gaussian measurements.

Basis pursuit (min ‖x‖₁ s.t. A x = y, solved as a linear program with
scipy's HiGHS) recovers x exactly below the Donoho–Tanner phase transition and
fails above it. The theoretical curve is computed from the statistical
dimension of the ℓ1 descent cone (Amelunxen, Lotz, McCoy & Tropp 2014,
"Living on the edge"), which equals the Donoho–Tanner weak threshold:
δ = ψ(s), ρ = s / ψ(s), with s = k/n and
ψ(s) = inf_τ≥0 s(1+τ²) + (1−s)·2·[(1+τ²)Q(τ) − τφ(τ)] (signed x; one-sided,
without the factor 2, for nonnegative x). Beside it a one-layer ReLU decoder
x̂ = ReLU(Bᵀy + c), trained per grid cell (all cells as one batched model), shows
that a single thresholded linear read-out already decodes when x is sparse enough.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from monoscope import plots
from monoscope.errors import MonoscopeError
from monoscope.toy.checks import check_memory, check_positive


@dataclass
class CSConfig:
    n_features: int = 60
    deltas: int = 10  # grid points of δ = m/n in (0, 1)
    rhos: int = 10  # grid points of ρ = k/m in (0, 1]
    trials: int = 6  # L1 problems per cell
    tol: float = 1e-3  # L1 success: ‖x̂ − x‖ ≤ tol ‖x‖
    relu_grid: int = 8  # grid points per axis for the (costlier) ReLU decoder
    relu_steps: int = 1000
    relu_batch: int = 128
    relu_tol: float = 0.2  # ReLU success: ‖x̂ − x‖ ≤ relu_tol ‖x‖
    seed: int = 0

    def __post_init__(self):
        check_positive(
            n_features=self.n_features,
            deltas=self.deltas,
            rhos=self.rhos,
            trials=self.trials,
            tol=self.tol,
            relu_grid=self.relu_grid,
            relu_steps=self.relu_steps,
            relu_batch=self.relu_batch,
            relu_tol=self.relu_tol,
        )
        if self.n_features < 4:
            raise MonoscopeError(f"n_features must be at least 4 for a (δ, ρ) grid, got {self.n_features}")
        m_max = round(0.95 * self.n_features)
        check_memory(
            relu_bytes(self.relu_grid**2, self.n_features, m_max, self.relu_batch),
            f"ReLU decoders for {self.relu_grid**2} cells",
        )


# ---- theory -------------------------------------------------------------------
def psi(s: np.ndarray | float, nonnegative: bool = False) -> np.ndarray:
    """Normalised statistical dimension of the ℓ1 descent cone at an s·n-sparse vector (s in [0, 1]).

    ψ(s) = min_τ≥0 s(1+τ²) + (1−s)·w·[(1+τ²)Q(τ) − τφ(τ)], w = 2 (signed) or 1 (nonnegative); the
    minimum over τ is taken on a fine grid, exact to ~1e-5 because the objective is convex and smooth in τ.
    """
    s_t = torch.as_tensor(np.atleast_1d(np.asarray(s, dtype=np.float64)))[:, None]
    t = torch.linspace(0.0, 8.0, 4001, dtype=torch.float64)[None, :]
    w = 1.0 if nonnegative else 2.0
    tail = torch.special.ndtr(-t)
    pdf = torch.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    f = s_t * (1 + t * t) + (1 - s_t) * w * ((1 + t * t) * tail - t * pdf)
    return f.amin(1).clamp(0.0, 1.0).numpy()


@functools.lru_cache(maxsize=8)
def phase_curve(nonnegative: bool = False, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(δ, ρ) points of the weak phase transition."""
    s = np.geomspace(1e-4, 0.999, points)
    d = psi(s, nonnegative)
    return d, s / d


def rho_threshold(delta: float, nonnegative: bool = False) -> float:
    """ρ on the transition curve at δ (interpolated)."""
    d, r = phase_curve(nonnegative)
    return float(np.interp(delta, d, r))


# ---- L1 / basis pursuit ----------------------------------------------------------
def basis_pursuit(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin ‖x‖₁ s.t. A x = y, as the LP min 1ᵀ(u+v) s.t. A(u−v) = y, u, v ≥ 0."""
    from scipy.optimize import linprog

    n = A.shape[1]
    res = linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs")
    if res.x is None:
        return np.zeros(n)
    return res.x[:n] - res.x[n:]


def l1_success(n: int, m: int, k: int, trials: int, tol: float, rng: np.random.Generator) -> float:
    """Fraction of random signed k-sparse problems that basis pursuit recovers."""
    ok = 0
    for _ in range(trials):
        A = rng.standard_normal((m, n)) / math.sqrt(m)
        x = np.zeros(n)
        x[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
        xh = basis_pursuit(A, A @ x)
        ok += np.linalg.norm(xh - x) <= tol * np.linalg.norm(x)
    return ok / trials


# ---- learned ReLU decoder ------------------------------------------------------------
def relu_bytes(cells: int, n: int, m_max: int, batch: int) -> float:
    """Working memory of the batched decoders: batch tensors with grads, A, B and Adam state; eval batch of 1024."""
    return 4.0 * cells * ((batch + 1024) * (6 * n + 4 * m_max) + 5 * m_max * n)


def _sparse_nonneg(k: torch.Tensor, batch: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """x [C, batch, n], exactly k[c] nonzeros per row, values U(0, 1]."""
    C = len(k)
    rank = torch.rand(C, batch, n, generator=gen).argsort(-1).argsort(-1)
    return (rank < k[:, None, None]) * (1 - torch.rand(C, batch, n, generator=gen))


def relu_decoder(
    n: int,
    ms: list[int],
    ks: list[int],
    steps: int,
    batch: int,
    tol: float,
    gen: torch.Generator,
    progress: bool = True,
) -> tuple[list[float], list[float]]:
    """Train x̂ = ReLU(Bᵀ y + c) for every cell at once; return success rate and mean relative error per cell."""
    C, m_max = len(ms), max(ms)
    check_memory(relu_bytes(C, n, m_max, batch), f"ReLU decoders for {C} cells")
    A = torch.randn(C, m_max, n, generator=gen) / torch.tensor(ms, dtype=torch.float32).sqrt()[:, None, None]
    A *= (torch.arange(m_max)[None, :] < torch.tensor(ms)[:, None])[:, :, None]  # pad: rows past m_c measure nothing
    k = torch.tensor(ks)
    B = (A.clone()).requires_grad_(True)  # init at the matched filter Aᵀ
    c = torch.zeros(C, 1, n, requires_grad=True)
    opt = torch.optim.Adam([B, c], lr=3e-3)
    for _ in tqdm(range(steps), desc="toy compressed-sensing (ReLU)", disable=not progress, mininterval=1.0):
        x = _sparse_nonneg(k, batch, n, gen)
        xh = torch.relu(torch.baddbmm(c, torch.bmm(x, A.transpose(1, 2)), B))
        loss = (xh - x).pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = _sparse_nonneg(k, 1024, n, gen)
        xh = torch.relu(torch.baddbmm(c, torch.bmm(x, A.transpose(1, 2)), B))
        rel = (xh - x).norm(dim=-1) / x.norm(dim=-1).clamp_min(1e-12)
        return (rel <= tol).float().mean(1).tolist(), rel.mean(1).tolist()


def grid_axes(n: int, deltas: int, rhos: int) -> tuple[np.ndarray, np.ndarray]:
    delta = np.linspace(0.05, 0.95, deltas)
    rho = np.linspace(0.05, 1.0, rhos)
    return delta, rho


def run(cfg: CSConfig, out: Path, progress: bool = True) -> dict:
    n = cfg.n_features
    rng = np.random.default_rng(cfg.seed)
    delta, rho = grid_axes(n, cfg.deltas, cfg.rhos)
    l1 = np.zeros((cfg.rhos, cfg.deltas))
    bar = tqdm(total=l1.size, desc="toy compressed-sensing (L1)", disable=not progress, mininterval=1.0)
    for j, dl in enumerate(delta):
        m = max(1, round(dl * n))
        for i, r in enumerate(rho):
            k = max(1, round(r * m))
            l1[i, j] = l1_success(n, m, k, cfg.trials, cfg.tol, rng)
            bar.update(1)
    bar.close()
    rd, rr = grid_axes(n, cfg.relu_grid, cfg.relu_grid)
    cells = [(max(1, round(dl * n)), r) for r in rr for dl in rd]
    ms = [m for m, _ in cells]
    ks = [max(1, round(r * m)) for m, r in cells]
    succ, rel = relu_decoder(
        n, ms, ks, cfg.relu_steps, cfg.relu_batch, cfg.relu_tol, torch.Generator().manual_seed(cfg.seed), progress
    )
    relu_s = np.array(succ).reshape(cfg.relu_grid, cfg.relu_grid)
    relu_e = np.array(rel).reshape(cfg.relu_grid, cfg.relu_grid)
    curve = phase_curve(False)
    curve_nn = phase_curve(True)
    _plot(delta, rho, l1, rd, rr, relu_s, relu_e, curve, curve_nn, cfg, out / "compressed_sensing.png")
    return {
        "n": n,
        "delta": delta.tolist(),
        "rho": rho.tolist(),
        "l1_success": l1.tolist(),
        "relu_delta": rd.tolist(),
        "relu_rho": rr.tolist(),
        "relu_success": relu_s.tolist(),
        "relu_rel_error": relu_e.tolist(),
        "theory": "weak threshold via the statistical dimension of the l1 descent cone (Amelunxen et al. 2014)",
        "curve_signed": {"delta": curve[0].tolist(), "rho": curve[1].tolist()},
        "curve_nonnegative": {"delta": curve_nn[0].tolist(), "rho": curve_nn[1].tolist()},
        "figures": ["compressed_sensing.png"],
    }


def _plot(delta, rho, l1, rd, rr, relu_s, relu_e, curve, curve_nn, cfg: CSConfig, path: Path) -> None:
    plt = plots.plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    panels = [
        (delta, rho, l1, "L1 basis pursuit (signed x): success", "viridis"),
        (rd, rr, relu_s, f"ReLU(Bᵀy + c) (x ≥ 0): success (err ≤ {cfg.relu_tol:g})", "viridis"),
        (rd, rr, relu_e, "ReLU(Bᵀy + c): mean relative error", "magma_r"),
    ]
    for ax, (dx, ry, z, title, cmap) in zip(axes, panels):
        im = ax.pcolormesh(dx, ry, z, shading="nearest", cmap=cmap, vmin=0, vmax=1)
        ax.plot(*curve, "w-", lw=2, label="Donoho–Tanner (signed)")
        ax.plot(*curve_nn, "w--", lw=1.5, label="Donoho–Tanner (x ≥ 0)")
        ax.set_xlim(dx[0] - 0.04, dx[-1] + 0.04)
        ax.set_ylim(ry[0] - 0.04, ry[-1] + 0.04)
        ax.set_xlabel("δ = m / n")
        ax.set_ylabel("ρ = k / m")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"recovering k-sparse x ∈ R^{cfg.n_features} from m Gaussian measurements")
    plots.save(fig, path)
