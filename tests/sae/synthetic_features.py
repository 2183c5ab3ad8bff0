"""Sparse activations built from known unit directions: ground truth for SAE tests."""

import torch


def synthetic(n, d=16, n_feat=48, active=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(n_feat, d, generator=g)
    dirs /= dirs.norm(dim=1, keepdim=True)
    idx = torch.rand(n, n_feat, generator=g).argsort(1)[:, :active]
    coef = torch.zeros(n, n_feat).scatter_(1, idx, torch.rand(n, active, generator=g) + 0.5)
    return coef @ dirs + 0.3, dirs
