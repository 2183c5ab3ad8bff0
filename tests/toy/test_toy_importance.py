"""A linear toy model keeps exactly m features (the most important); a sparse ReLU model keeps more."""

import torch

from monoscope.toy.model import ToyTrainConfig, feature_norms, superposition, train_toy_models


def test_linear_keeps_exactly_m_and_relu_superposes():
    torch.set_num_threads(1)
    n, m = 20, 5
    importance = 0.7 ** torch.arange(float(n))
    S = torch.tensor([0.0, 0.99])
    lin = train_toy_models(
        n, m, S, importance, ToyTrainConfig(steps=1200, batch_size=512, seeds=1, activation="linear"), progress=False
    )
    norms = feature_norms(lin.W)
    for c in range(len(S)):
        kept = (norms[c] > 0.5).nonzero().flatten().tolist()
        assert kept == list(range(m)), (float(S[c]), norms[c])
        assert float(superposition(lin.W)[c, :m].max()) < 0.05  # kept features are orthogonal
    relu = train_toy_models(
        n, m, S[1:], importance, ToyTrainConfig(steps=1200, batch_size=512, seeds=2), progress=False
    )
    assert int((feature_norms(relu.W)[0] > 0.5).sum()) > m
    assert float(superposition(relu.W)[0].max()) > 0.2
