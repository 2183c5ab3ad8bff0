"""Dimensions per feature: D* = 1 when dense, and the sticky plateau at 1/2 (antipodal pairs)."""

import torch

from monoscope.toy.model import ToyTrainConfig, dimensions_per_feature, dims_per_feature_total, train_toy_models

PLATEAU_TOL = 0.04  # |D* - 1/2| on the plateau


def test_d_star_plateaus():
    torch.set_num_threads(1)
    n, m = 100, 10
    inv = torch.tensor([1.0, 3.0, 3.5])  # 1 / (1 - S)
    res = train_toy_models(
        n, m, 1 - 1 / inv, torch.ones(n), ToyTrainConfig(steps=1000, batch_size=128, seeds=1), progress=False
    )
    d_star = dims_per_feature_total(res.W)
    assert abs(float(d_star[0]) - 1.0) < 0.05, d_star
    assert (d_star[1:] - 0.5).abs().max() < PLATEAU_TOL, d_star
    # On the plateau the represented features are antipodal pairs: each has D_i ≈ 1/2.
    norms = res.W[2].norm(dim=0)
    d_i = dimensions_per_feature(res.W)[2][norms > 0.5]
    assert len(d_i) >= 2 * m - 2
    assert float((d_i - 0.5).abs().median()) < 0.05
