"""n = 2, m = 1: the extra feature is ignored, dedicated, or stored antipodally."""

import torch

from monoscope.toy.model import ToyTrainConfig, train_toy_models
from monoscope.toy.phase import classify


def test_three_phases():
    torch.set_num_threads(1)
    # (relative importance of feature 2, density): expected phase of feature 2
    cells = [(0.2, 1.0, "ignored"), (5.0, 1.0, "dedicated"), (1.0, 0.03, "antipodal")]
    S = torch.tensor([1 - d for _, d, _ in cells])
    importance = torch.tensor([[1.0, r] for r, _, _ in cells])
    res = train_toy_models(2, 1, S, importance, ToyTrainConfig(steps=1500, batch_size=512, seeds=3), progress=False)
    assert [classify(W) for W in res.W] == [p for _, _, p in cells]
