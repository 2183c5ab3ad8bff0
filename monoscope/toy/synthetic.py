"""Synthetic activations with known features: the ground truth an SAE should recover.

N unit directions in R^d. Feature i fires with probability p_i ∝ (i+1)^-power
(scaled so on average `mean_active` fire per vector; real features' firing
rates are heavy-tailed), features in groups of `group` fire together more often
than chance (a Gaussian copula with correlation `corr`), and a firing feature
has magnitude U(mag_lo, mag_hi). Two harder shapes, as a new user's data may
have them: a hierarchy (`children` > 0: every feature past the first
N/(children+1) is the child of one of those parents and fires only when its
parent does, the set-up of the feature-absorption literature, with its
marginal rate kept on the power law), and isotropic Gaussian `noise` of that
standard deviation per coordinate added to every vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from monoscope.errors import MonoscopeError
from monoscope.toy.checks import check_positive

# The generator holds the directions [N, d] and draws dense codes [batch, N]: beyond these sizes a toy problem
# stops being a toy (and the dense codes stop fitting a laptop's memory).
MAX_TRUE_FEATURES = 1 << 16
MAX_WIDTH = 1 << 12


@dataclass
class SyntheticConfig:
    n_true: int = 512
    d: int = 64
    mean_active: float = 5.0
    power: float = 0.5
    corr: float = 0.3
    group: int = 4
    mag_lo: float = 0.5
    mag_hi: float = 1.5
    children: int = 0  # children per parent feature (0: no hierarchy)
    noise: float = 0.0  # std of Gaussian noise per coordinate
    seed: int = 0

    def __post_init__(self):
        check_positive(n_true=self.n_true, d=self.d, mean_active=self.mean_active, group=self.group)
        if self.n_true > MAX_TRUE_FEATURES:
            raise MonoscopeError(
                f"n_true={self.n_true} exceeds the synthetic generator's limit of {MAX_TRUE_FEATURES} true features"
            )
        if self.d > MAX_WIDTH:
            raise MonoscopeError(f"d={self.d} exceeds the synthetic generator's limit of width {MAX_WIDTH}")
        if self.mean_active >= self.n_true:
            raise MonoscopeError(f"mean_active={self.mean_active} must be below n_true={self.n_true}")
        if not 0 <= self.corr < 1:
            raise MonoscopeError(f"corr must lie in [0, 1), got {self.corr}")
        if self.power < 0:
            raise MonoscopeError(f"power must be non-negative, got {self.power}")
        if not 0 < self.mag_lo <= self.mag_hi:
            raise MonoscopeError(f"magnitudes need 0 < mag_lo <= mag_hi, got {self.mag_lo} and {self.mag_hi}")
        if self.children < 0 or self.noise < 0:
            raise MonoscopeError(f"children and noise must be non-negative, got {self.children} and {self.noise}")
        if self.children and self.n_true < self.children + 1:
            raise MonoscopeError(
                f"a hierarchy with {self.children} children per parent needs n_true >= {self.children + 1}, "
                f"got {self.n_true}"
            )
        if self.firing_probabilities().max() > 1:  # checked with the settings: before any work is done
            raise MonoscopeError(
                f"mean_active={self.mean_active} with power={self.power} makes the commonest of n_true={self.n_true} "
                "features fire with probability > 1"
            )

    def firing_probabilities(self) -> torch.Tensor:
        """p_i ∝ (i+1)^-power, summing to mean_active (float64)."""
        w = torch.arange(1, self.n_true + 1, dtype=torch.float64) ** -self.power
        return w / w.sum() * self.mean_active


class SyntheticFeatures:
    def __init__(self, cfg: SyntheticConfig):
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        D = torch.randn(cfg.n_true, cfg.d, generator=g)
        self.directions = D / D.norm(dim=1, keepdim=True)
        p = cfg.firing_probabilities()
        self.prob = p.float()
        # parent[i]: the feature that must fire for feature i to fire (-1: none). Parents are the commonest
        # features, so a child's marginal rate p_i <= its parent's and its conditional rate is p_i / p_parent.
        self.parent = torch.full((cfg.n_true,), -1, dtype=torch.long)
        if cfg.children:
            n_par = math.ceil(cfg.n_true / (cfg.children + 1))
            kids = torch.arange(n_par, cfg.n_true)
            self.parent[kids] = (kids - n_par) // cfg.children
        has = self.parent >= 0
        cond = p.clone()
        cond[has] = p[has] / p[self.parent[has]]
        normal = torch.distributions.Normal(0.0, 1.0)
        self.threshold = normal.icdf(1 - cond.clamp(1e-12, 1 - 1e-12)).float()
        self.n_groups = math.ceil(cfg.n_true / cfg.group)

    def codes(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Feature activations [n, N]."""
        c = self.cfg
        shared = torch.randn(n, self.n_groups, generator=gen).repeat_interleave(c.group, 1)[:, : c.n_true]
        z = math.sqrt(c.corr) * shared + math.sqrt(1 - c.corr) * torch.randn(n, c.n_true, generator=gen)
        on = z > self.threshold
        if c.children:
            kids = (self.parent >= 0).nonzero().flatten()
            on[:, kids] &= on[:, self.parent[kids]]  # parents are never children: one pass suffices
        mag = c.mag_lo + (c.mag_hi - c.mag_lo) * torch.rand(n, c.n_true, generator=gen)
        return on * mag

    def vectors(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Activation vectors [n, d] = codes @ directions (+ noise)."""
        x = self.codes(n, gen) @ self.directions
        if self.cfg.noise > 0:
            x += self.cfg.noise * torch.randn(x.shape, generator=gen)
        return x

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """`n` vectors drawn from a generator seeded with `seed`."""
        return self.vectors(n, torch.Generator().manual_seed(int(seed)))


def mmcs_scores(directions: torch.Tensor, W_dec: torch.Tensor, threshold: float = 0.9) -> dict[str, float]:
    """MMCS: mean over true features of the best (signed) cosine with any decoder row; recovered: fraction with
    best cos >= threshold."""
    D = directions / directions.norm(dim=1, keepdim=True)
    W = W_dec / W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    best = (D @ W.T).amax(1)
    return {"mmcs": float(best.mean()), "recovered": float((best >= threshold).float().mean())}
