"""A ReLU SAE recovers the known directions of a small synthetic problem."""

import torch

from monoscope.toy.recovery import RecoveryConfig, fit_and_score
from monoscope.toy.synthetic import SyntheticConfig, SyntheticFeatures, mmcs_scores


def test_relu_sae_recovers_small_problem():
    torch.set_num_threads(1)
    cfg = RecoveryConfig(
        n_true=48, d=16, mean_active=2.0, d_sae=96, vectors=150_000, batch_size=256, archs=("relu",), eval_vectors=8192
    )
    data = SyntheticFeatures(cfg.synthetic())
    row = fit_and_score("relu", data, cfg, progress=False)
    assert row["mmcs"] >= 0.95, row
    assert row["recovered"] >= 0.9, row
    assert 0.0 <= row["dead"] < 1.0


def test_mmcs_scores_and_synthetic_statistics():
    data = SyntheticFeatures(SyntheticConfig(n_true=64, d=16, mean_active=3.0, corr=0.5, group=4))
    assert mmcs_scores(data.directions, data.directions)["mmcs"] > 0.9999
    noise = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))
    assert mmcs_scores(data.directions, noise)["mmcs"] < 0.9
    codes = data.codes(40_000, torch.Generator().manual_seed(0))
    active = (codes > 0).float()
    assert abs(float(active.sum(1).mean()) - 3.0) < 0.15  # mean number of active features
    assert float(active[:, 0].mean()) > 3 * float(active[:, -1].mean())  # power-law frequencies
    same = torch.corrcoef(active[:, :2].T)[0, 1]
    other = torch.corrcoef(active[:, [0, 4]].T)[0, 1]
    assert float(same) > float(other) + 0.05  # features of one group co-fire
