"""Toy models of superposition (Elhage et al. 2022), trained many at once.

x' = act(WᵀW x + b) with W ∈ R^{m×n}. Every grid cell (a sparsity and an
importance vector) gets `seeds` models; all of them live in ONE tensor with a
leading model axis and are trained together with batched matmuls, because the
models are tiny and Python overhead per model would dominate. The best seed per
cell (lowest loss on a shared held-out batch) is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.toy.checks import check_memory, check_positive, check_sizes, check_sparsities


@dataclass
class ToyTrainConfig:
    steps: int = 3000
    batch_size: int = 1024
    lr: float = 1e-2
    seeds: int = 3
    eval_size: int = 8192
    activation: str = "relu"  # or "linear"
    seed: int = 0

    def __post_init__(self):
        check_positive(
            steps=self.steps, batch_size=self.batch_size, lr=self.lr, seeds=self.seeds, eval_size=self.eval_size
        )
        if self.activation not in ("relu", "linear"):
            raise MonoscopeError(f"activation must be relu or linear, got {self.activation!r}")


@dataclass
class ToyModels:
    """The kept model of every cell: W [C, m, n], b [C, n], held-out loss [C]."""

    W: torch.Tensor
    b: torch.Tensor
    loss: torch.Tensor


def check_toy_grid(cells: int, n: int, m: int, cfg: ToyTrainConfig) -> None:
    """Refuse a grid whose batched tensors would not fit, before anything starts."""
    M = cells * cfg.seeds
    # x, its mask, the output, their grads (about 8 batch-sized tensors), the eval batch, W with Adam state.
    check_memory(
        4.0 * M * n * (8 * cfg.batch_size + 3 * cfg.eval_size + 6 * m),
        f"a toy grid of {cells} cells x {cfg.seeds} seeds x batch {cfg.batch_size} x {n} features",
    )


@dataclass
class ToyGridConfig:
    """Shared by the experiments that train a grid of toy models over sparsities: sizes, checks, training."""

    n_features: int = 5
    m_hidden: int = 2
    sparsities: tuple[float, ...] = (0.0,)
    steps: int = 2000
    batch_size: int = 1024
    seeds: int = 1
    seed: int = 0

    def __post_init__(self):
        check_sizes(self.n_features, self.m_hidden)
        check_sparsities(self.sparsities)
        check_toy_grid(len(self.sparsities), self.n_features, self.m_hidden, self.train_config())

    def train_config(self) -> ToyTrainConfig:
        return ToyTrainConfig(steps=self.steps, batch_size=self.batch_size, seeds=self.seeds, seed=self.seed)


def sample_sparse(prob: torch.Tensor, batch: int, gen: torch.Generator) -> torch.Tensor:
    """x [M, batch, n]: each feature is U[0, 1] with probability prob [M, n], else 0."""
    M, n = prob.shape
    u = torch.rand(M, batch, n, generator=gen)
    p = prob[:, None, :]
    # One draw serves both: given u < p, u / p is uniform on [0, 1).
    return torch.where(u < p, u / p.clamp_min(1e-12), torch.zeros((), dtype=u.dtype))


def forward(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, activation: str) -> torch.Tensor:
    out = torch.baddbmm(b[:, None, :], torch.bmm(x, W.transpose(1, 2)), W)
    return torch.relu(out) if activation == "relu" else out


def weighted_mse(out: torch.Tensor, x: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Per-model loss [M]: importance-weighted squared error summed over features, mean over the batch."""
    return ((out - x).pow(2) * importance[:, None, :]).sum(-1).mean(1)


def train_toy_models(
    n: int,
    m: int,
    sparsity: torch.Tensor,
    importance: torch.Tensor,
    cfg: ToyTrainConfig,
    progress: bool = True,
    desc: str = "toy models",
) -> ToyModels:
    """Train `seeds` models per cell; sparsity [C] or [C, n], importance [C, n] (or [n], shared)."""
    check_sizes(n, m)
    sparsity = torch.as_tensor(sparsity, dtype=torch.float32)
    check_sparsities(sparsity.flatten().tolist())
    C = sparsity.shape[0]
    importance = (
        torch.as_tensor(importance, dtype=torch.float32).expand(C, n)
        if torch.as_tensor(importance).dim() == 1
        else torch.as_tensor(importance, dtype=torch.float32)
    )
    if importance.shape != (C, n):
        raise MonoscopeError(
            f"importance must have shape [{C}, {n}] (one row per grid cell), got {list(importance.shape)}"
        )
    if (importance < 0).any():
        raise MonoscopeError("importances must be non-negative")
    S = cfg.seeds
    M = C * S
    check_toy_grid(C, n, m, cfg)
    prob = (1 - sparsity).reshape(C, -1).expand(C, n)
    prob_m = prob.repeat_interleave(S, 0)
    imp_m = importance.repeat_interleave(S, 0)

    gen = torch.Generator().manual_seed(cfg.seed)
    W = torch.empty(M, m, n)
    for i in range(M):
        torch.nn.init.xavier_normal_(W[i], generator=gen)
    W.requires_grad_(True)
    b = torch.zeros(M, n, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / cfg.steps)))
    for _ in tqdm(range(cfg.steps), desc=desc, disable=not progress, mininterval=1.0):
        x = sample_sparse(prob_m, cfg.batch_size, gen)
        loss = weighted_mse(forward(W, b, x, cfg.activation), x, imp_m).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()

    with torch.no_grad():
        # Seeds of one cell are compared on the same held-out data.
        x_eval = sample_sparse(prob, cfg.eval_size, gen).repeat_interleave(S, 0)
        ev = weighted_mse(forward(W, b, x_eval, cfg.activation), x_eval, imp_m).reshape(C, S)
        best = ev.argmin(1)
        idx = torch.arange(C) * S + best
        return ToyModels(W=W.detach()[idx].clone(), b=b.detach()[idx].clone(), loss=ev[torch.arange(C), best])


def feature_norms(W: torch.Tensor) -> torch.Tensor:
    """‖W_i‖ for every feature: [C, n]."""
    return W.norm(dim=-2)


def superposition(W: torch.Tensor) -> torch.Tensor:
    """Σ_{j≠i} (Ŵ_i·W_j)²: how much other features share feature i's direction, [C, n] (0 if ‖W_i‖ ≈ 0)."""
    norm = W.norm(dim=-2, keepdim=True)
    unit = W / norm.clamp_min(1e-8)
    dots = torch.einsum("cki,ckj->cij", unit, W).pow(2)
    sup = dots.sum(-1) - dots.diagonal(dim1=-2, dim2=-1)
    return torch.where(norm[..., 0, :] > 1e-2, sup, torch.zeros_like(sup))


def dimensions_per_feature(W: torch.Tensor) -> torch.Tensor:
    """D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)² (Elhage et al.), [C, n]; 0 for unrepresented features."""
    norm2 = W.pow(2).sum(-2)
    unit = W / W.norm(dim=-2, keepdim=True).clamp_min(1e-8)
    denom = torch.einsum("cki,ckj->cij", unit, W).pow(2).sum(-1)
    return torch.where(denom > 1e-12, norm2 / denom.clamp_min(1e-12), torch.zeros_like(norm2))


def dims_per_feature_total(W: torch.Tensor) -> torch.Tensor:
    """D* = m / ‖W‖_F² per model, [C]."""
    return W.shape[-2] / W.pow(2).sum((-2, -1)).clamp_min(1e-12)
