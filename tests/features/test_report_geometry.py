"""Features vs neurons, matching across SAE sizes, families, and universality on synthetic activations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from monoscope.errors import MonoscopeError
from monoscope.features.hypotheses import TokenActs
from monoscope.features.neurons import decoder_spread, feature_neuron_correlations
from monoscope.features.splitting import check_same_source, families, feature_correlations, match_sizes
from monoscope.features.universality import dense_correlations, universality
from monoscope.sae import SAEConfig
from monoscope.sae.relu import ReLUSAE
from tests.features.test_report_contexts import make_table


def test_decoder_spread_counts_normalised_coefficients():
    W = np.array([[1.0, 0, 0, 0], [1.0, 1.0, 0, 0], [1.0, 0.05, 0.05, 0.05], [3.0, 0.2, 0, 0]])
    assert decoder_spread(W, 0.1).tolist() == [1, 2, 1, 1]  # 0.2/3.007 < 0.1 after normalising


def test_correlations_match_numpy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    F = np.maximum(X[:, :3] + rng.normal(scale=0.3, size=(300, 3)), 0)
    want = np.corrcoef(F.T, X.T)[:3, 3:]
    np.testing.assert_allclose(feature_neuron_correlations(sp.csc_matrix(F), X), want, atol=1e-5)
    np.testing.assert_allclose(feature_correlations(sp.csc_matrix(F), sp.csc_matrix(F)), np.corrcoef(F.T), atol=1e-5)
    np.testing.assert_allclose(dense_correlations(X, X), np.corrcoef(X.T), atol=1e-5)


def split_pair(n: int = 600, seed: int = 0):
    """Small SAE: features 0 and 1. Large SAE: feature 0 splits into 0a/0b (disjoint halves), feature 1 kept."""
    rng = np.random.default_rng(seed)
    a0 = (rng.random(n) < 0.3) * rng.uniform(1, 2, n)
    a1 = (rng.random(n) < 0.2) * rng.uniform(1, 2, n)
    half = rng.random(n) < 0.5
    A = np.stack([a0, a1], 1)
    B = np.stack([a0 * half, a0 * ~half, a1], 1)
    WA = np.eye(2, 4)
    WB = np.array([[1, 0.3, 0, 0], [1, -0.3, 0, 0], [0, 1, 0, 0]], float)
    return sp.csc_matrix(A), sp.csc_matrix(B), WA, WB


def test_match_sizes_finds_the_family():
    A, B, WA, WB = split_pair()
    m = match_sizes(A, B, WA, WB, min_fires=5)
    assert m["parent"] == [0, 0, 1]
    assert m["parent_corr"][2] == pytest.approx(1.0)
    fams = families(m, min_corr=0.4)
    assert len(fams) == 1 and fams[0]["parent"] == 0 and sorted(c["index"] for c in fams[0]["children"]) == [0, 1]


def _sae(hook: str, model: str, d_sae: int = 8) -> ReLUSAE:
    return ReLUSAE(SAEConfig("relu", 4, d_sae, metadata={"hook_name": hook, "model_path": model}))


def test_splitting_refuses_other_hooks_and_models(tmp_path):
    check_same_source([_sae("h", str(tmp_path)), _sae("h", str(tmp_path), 16)], ["a", "b"])
    with pytest.raises(MonoscopeError, match="different hooks"):
        check_same_source([_sae("h", str(tmp_path)), _sae("g", str(tmp_path))], ["a", "b"])
    with pytest.raises(MonoscopeError, match="different models"):
        check_same_source([_sae("h", str(tmp_path / "m1")), _sae("h", str(tmp_path / "m2"))], ["a", "b"])


def test_universality_of_identical_runs_is_one_and_of_shuffled_is_low():
    A, B, _, _ = split_pair()
    rng = np.random.default_rng(1)
    X = rng.normal(size=(A.shape[0], 6)).astype(np.float32)
    t = make_table([("x", "d")] * A.shape[0])
    a = TokenActs(t, X, [A])
    r = universality(a, TokenActs(t, X, [A]), min_fires=5)
    assert r["median_feature_corr"] == pytest.approx(1.0) and r["median_neuron_corr"] == pytest.approx(1.0)
    perm = rng.permutation(A.shape[0])
    r2 = universality(a, TokenActs(t, X[perm], [A.tocsr()[perm].tocsc()]), min_fires=5)
    assert r2["median_feature_corr"] < 0.3 and r2["median_neuron_corr"] < 0.3
    other = make_table([("y", "d")] * (A.shape[0] - 1))
    with pytest.raises(MonoscopeError, match="same tokens"):
        universality(a, TokenActs(other, X[1:], [A.tocsr()[1:].tocsc()]), min_fires=5)
