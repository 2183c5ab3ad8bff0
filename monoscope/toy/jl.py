"""How many almost-orthogonal directions fit in d dimensions (all pairwise |cos| ≤ ε)?

Three answers over a range of d: random unit vectors accepted greedily, packings
optimised by gradient descent on a soft-max of the pairwise |cos|, and the
Johnson–Lindenstrauss-style bound exp(d ε² / 4) — from the union bound over
N²/2 pairs with P(|cos| > ε) ≤ 2 exp(−d ε² / 2) for random unit vectors. All
three grow exponentially in d; that room is what superposition uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monoscope import plots
from monoscope.errors import MonoscopeError
from monoscope.toy.checks import check_memory, check_positive


@dataclass
class JLConfig:
    dims: tuple[int, ...] = (2, 4, 6, 8, 12, 16, 24, 32)
    eps: float = 0.3
    patience: int = 2000  # consecutive rejections that end the greedy search
    max_vectors: int = 2000  # cap per dimension (memory: max_vectors² floats)
    opt_steps: int = 300
    seed: int = 0

    def __post_init__(self):
        if not self.dims or any(int(d) <= 0 for d in self.dims):
            raise MonoscopeError(f"dimensions must be positive integers, got {self.dims}")
        if not 0 < self.eps < 1:
            raise MonoscopeError(f"eps must lie in (0, 1), got {self.eps}")
        check_positive(patience=self.patience, max_vectors=self.max_vectors, opt_steps=self.opt_steps)
        check_memory(4.0 * 6 * self.max_vectors**2, f"packings of up to {self.max_vectors} vectors")


def jl_bound(d: int, eps: float) -> float:
    """N below which N random unit vectors in R^d have all |cos| ≤ eps with positive probability."""
    return math.exp(d * eps * eps / 4)


def greedy_random(d: int, eps: float, patience: int, max_vectors: int, gen: torch.Generator, chunk: int = 256) -> int:
    """Draw random unit vectors and keep each whose |cos| with all kept ones is ≤ eps."""
    kept = torch.empty(0, d)
    misses = 0
    while misses < patience and len(kept) < max_vectors:
        cand = torch.randn(chunk, d, generator=gen)
        cand /= cand.norm(dim=1, keepdim=True)
        ok = (cand @ kept.T).abs().amax(1) <= eps if len(kept) else torch.ones(chunk, dtype=torch.bool)
        G = (cand @ cand.T).abs()
        new: list[int] = []
        for i in range(chunk):
            if ok[i] and all(G[i, j] <= eps for j in new):
                new.append(i)
                misses = 0
            else:
                misses += 1
            if misses >= patience or len(kept) + len(new) >= max_vectors:
                break
        kept = torch.cat([kept, cand[new]])
    return len(kept)


def optimise_packing(n: int, d: int, eps: float, steps: int, gen: torch.Generator, patience: int = 60) -> float:
    """Best max pairwise |cos| reached by minimising τ·logsumexp(|cos_ij| / τ) over n unit vectors (τ annealed).

    Stops early on success, or when the max has not improved for `patience` steps.
    """
    if n <= d:
        return 0.0  # an orthonormal set
    V = torch.randn(n, d, generator=gen).requires_grad_(True)
    opt = torch.optim.Adam([V], lr=0.02)
    diag = torch.eye(n, dtype=torch.bool)
    best, since = float("inf"), 0
    for t in range(steps):
        U = V / V.norm(dim=1, keepdim=True)
        excess = ((U @ U.T).abs() - eps).masked_fill(diag, -1.0)
        worst = float(excess.detach().max()) + eps
        if worst < best - 1e-4:
            best, since = worst, 0
        else:
            since += 1
        if best <= eps or since >= patience:
            break
        tau = 0.05 * (0.1 ** (t / steps))  # from a smooth average to nearly the max
        z = (excess / tau).flatten()
        z = torch.maximum(z, z.detach().max() - 60.0)  # keep exp() out of subnormal floats, which are very slow on CPU
        loss = tau * torch.logsumexp(z, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return best


def optimised_count(
    d: int, eps: float, start: int, steps: int, max_vectors: int, gen: torch.Generator
) -> tuple[int, bool]:
    """Largest n (searched by growing then bisecting from `start`) whose optimised packing reaches eps,
    and whether the search stopped at `max_vectors` (then n is only a lower bound)."""
    ok_n, bad_n = max(d, start), None  # d orthonormal vectors always fit; so do the greedy ones
    n = ok_n + 1
    while n <= max_vectors:
        if optimise_packing(n, d, eps, steps, gen) <= eps:
            ok_n, n = n, int(math.ceil(n * 1.3)) + 1
        else:
            bad_n = n
            break
    if bad_n is None:
        return ok_n, True
    while bad_n - ok_n > max(1, ok_n // 20):
        mid = (ok_n + bad_n) // 2
        if optimise_packing(mid, d, eps, steps, gen) <= eps:
            ok_n = mid
        else:
            bad_n = mid
    return ok_n, False


def run(cfg: JLConfig, out: Path, progress: bool = True) -> dict:
    gen = torch.Generator().manual_seed(cfg.seed)
    rows = []
    for d in tqdm(cfg.dims, desc="toy jl", disable=not progress):
        g = greedy_random(int(d), cfg.eps, cfg.patience, cfg.max_vectors, gen)
        o, capped = optimised_count(int(d), cfg.eps, g, cfg.opt_steps, cfg.max_vectors, gen)
        rows.append(
            {
                "d": int(d),
                "random_greedy": g,
                "optimised": o,
                "optimised_capped": capped,
                "jl_bound": jl_bound(int(d), cfg.eps),
            }
        )
    _plot(rows, cfg, out / "jl.png")
    return {"eps": cfg.eps, "rows": rows, "figures": ["jl.png"]}


def _plot(rows: list[dict], cfg: JLConfig, path: Path) -> None:
    plt = plots.plt
    fig, ax = plt.subplots(figsize=(6, 4))
    d = [r["d"] for r in rows]
    ax.plot(d, [r["optimised"] for r in rows], "o-", label="optimised packing (gradient descent)")
    capped = [r for r in rows if r["optimised_capped"]]
    if capped:
        ax.plot(
            [r["d"] for r in capped],
            [r["optimised"] for r in capped],
            "o",
            mfc="white",
            color="C0",
            label=f"search stopped at max_vectors={cfg.max_vectors} (lower bound)",
        )
    ax.plot(d, [r["random_greedy"] for r in rows], "s-", label="random vectors, greedy acceptance")
    ax.plot(d, [r["jl_bound"] for r in rows], "k--", label="JL bound exp(dε²/4)")
    ax.plot(d, d, ":", color="0.5", label="orthogonal (N = d)")
    ax.set_yscale("log")
    ax.set_xlabel("dimensions d")
    ax.set_ylabel(f"vectors with all |cos| ≤ {cfg.eps:g}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plots.save(fig, path)
