"""Five features in two dimensions: orthogonal pair when dense, pentagon at S = 0.9."""

import torch

from monoscope.toy.geometry import GeometryConfig, describe
from monoscope.toy.model import ToyTrainConfig, train_toy_models


def test_dense_pair_and_sparse_pentagon():
    torch.set_num_threads(1)
    importance = 0.9 ** torch.arange(5.0)
    res = train_toy_models(
        5, 2, torch.tensor([0.0, 0.9]), importance, ToyTrainConfig(steps=1500, batch_size=512, seeds=4), progress=False
    )
    dense, sparse = describe(res.W[0]), describe(res.W[1])
    assert dense["represented"] == 2
    assert dense["shape"] == "orthogonal pair"
    assert sparse["represented"] == 5
    gaps = torch.tensor(sparse["gaps_deg"])
    assert len(gaps) == 5
    assert (gaps - 72).abs().max() <= 5, gaps


def test_geometry_config_rejects_bad_sizes():
    import pytest

    from monoscope.errors import MonoscopeError

    with pytest.raises(MonoscopeError, match="must not exceed"):
        GeometryConfig(n_features=2, m_hidden=5)
    with pytest.raises(MonoscopeError, match=r"\[0, 1\)"):
        GeometryConfig(sparsities=(0.5, 1.0))
