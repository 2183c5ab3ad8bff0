"""Synthetic activations with known features: the ground truth an SAE should recover.

N unit directions in R^d. Feature i fires with probability p_i ∝ (i+1)^-power
(scaled so on average `mean_active` fire per vector), features in groups of
`group` fire together more often than chance (a Gaussian copula with
correlation `corr`), and a firing feature has magnitude U(0.5, 1.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from monoscope.errors import MonoscopeError
from monoscope.toy.checks import check_positive


@dataclass
class SyntheticConfig:
    n_true: int = 512
    d: int = 64
    mean_active: float = 5.0
    power: float = 0.5
    corr: float = 0.3
    group: int = 4
    seed: int = 0

    def __post_init__(self):
        check_positive(n_true=self.n_true, d=self.d, mean_active=self.mean_active, group=self.group)
        if self.mean_active >= self.n_true:
            raise MonoscopeError(f"mean_active={self.mean_active} must be below n_true={self.n_true}")
        if not 0 <= self.corr < 1:
            raise MonoscopeError(f"corr must lie in [0, 1), got {self.corr}")
        if self.power < 0:
            raise MonoscopeError(f"power must be non-negative, got {self.power}")


class SyntheticFeatures:
    def __init__(self, cfg: SyntheticConfig):
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        D = torch.randn(cfg.n_true, cfg.d, generator=g)
        self.directions = D / D.norm(dim=1, keepdim=True)
        w = torch.arange(1, cfg.n_true + 1, dtype=torch.float64) ** -cfg.power
        p = w / w.sum() * cfg.mean_active
        if p.max() > 1:
            raise MonoscopeError(
                f"mean_active={cfg.mean_active} with power={cfg.power} "
                "makes the commonest feature fire with probability > 1"
            )
        self.prob = p.float()
        normal = torch.distributions.Normal(0.0, 1.0)
        self.threshold = normal.icdf(1 - self.prob.double().clamp(1e-12, 1 - 1e-12)).float()
        self.n_groups = math.ceil(cfg.n_true / cfg.group)

    def codes(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Feature activations [n, N]."""
        c = self.cfg
        shared = torch.randn(n, self.n_groups, generator=gen).repeat_interleave(c.group, 1)[:, : c.n_true]
        z = math.sqrt(c.corr) * shared + math.sqrt(1 - c.corr) * torch.randn(n, c.n_true, generator=gen)
        mag = 0.5 + torch.rand(n, c.n_true, generator=gen)
        return (z > self.threshold) * mag

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """Activation vectors [n, d] = codes @ directions."""
        gen = torch.Generator().manual_seed(int(seed))
        return self.codes(n, gen) @ self.directions


def mmcs_scores(directions: torch.Tensor, W_dec: torch.Tensor, threshold: float = 0.9) -> dict[str, float]:
    """MMCS: mean over true features of the best (signed) cosine with any decoder row; recovered: fraction with
    best cos > threshold."""
    D = directions / directions.norm(dim=1, keepdim=True)
    W = W_dec / W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    best = (D @ W.T).amax(1)
    return {"mmcs": float(best.mean()), "recovered": float((best > threshold).float().mean())}
