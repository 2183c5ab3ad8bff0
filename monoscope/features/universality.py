"""Universality: do two subject models trained with different seeds learn the same features?

Both models read the same tokens; each feature of the first model's SAE is
matched to the second SAE's feature with the highest activation correlation,
and each neuron of the first model to the second model's best-correlated
neuron. Bricken et al. (2023) found a median of 0.72 for features vs 0.46 for
neurons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monoscope.errors import MonoscopeError
from monoscope.features.hypotheses import TokenActs
from monoscope.features.splitting import feature_correlations


def dense_correlations(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Pearson correlation [d_X, d_Y] between the columns of two dense matrices on the same rows."""
    X = X.astype(np.float64) - X.mean(0)
    Y = Y.astype(np.float64) - Y.mean(0)
    den = np.outer(np.linalg.norm(X, axis=0), np.linalg.norm(Y, axis=0))
    return np.divide(X.T @ Y, den, out=np.zeros(den.shape), where=den > 0)


def check_same_tokens(a: TokenActs, b: TokenActs) -> None:
    if len(a) != len(b) or not np.array_equal(a.table.tokens, b.table.tokens):
        raise MonoscopeError(
            "universality needs both models run on the same tokens; the two runs use different datasets or tokenizers"
        )


def universality(a: TokenActs, b: TokenActs, min_fires: int = 10, sae_index: int = 0) -> dict:
    """Median best-match correlation of live features (model A's SAE → model B's SAE) and of neurons (A → B)."""
    check_same_tokens(a, b)
    FA, FB = a.features[sae_index], b.features[sae_index]
    live_a, live_b = np.diff(FA.indptr) >= min_fires, np.diff(FB.indptr) >= min_fires
    corr = feature_correlations(FA, FB)
    corr[:, ~live_b] = -1.0
    f_best = corr.max(1)[live_a] if live_b.any() else np.zeros(int(live_a.sum()))
    ncorr = dense_correlations(a.neurons, b.neurons)
    n_live_a = a.neurons.std(0) > 0
    n_best = ncorr.max(1)[n_live_a]
    return {
        "n_tokens": len(a),
        "min_fires": min_fires,
        "n_live_features_a": int(live_a.sum()),
        "n_live_features_b": int(live_b.sum()),
        "median_feature_corr": float(np.median(f_best)) if len(f_best) else None,
        "median_neuron_corr": float(np.median(n_best)) if len(n_best) else None,
        "mean_feature_corr": float(f_best.mean()) if len(f_best) else None,
        "mean_neuron_corr": float(n_best.mean()) if len(n_best) else None,
        "feature_corr": f_best.tolist(),
        "neuron_corr": n_best.tolist(),
        "reference": {"median_feature_corr": 0.72, "median_neuron_corr": 0.46, "source": "Bricken et al. 2023"},
    }


def plot_universality(r: dict, path: Path | str) -> Path:
    from monoscope.plots import plt, save

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    bins = np.linspace(-0.1, 1.0, 45)
    ax.hist(r["feature_corr"], bins, alpha=0.6, density=True, label=f"features (median {r['median_feature_corr']:.2f})")
    ax.hist(r["neuron_corr"], bins, alpha=0.6, density=True, label=f"neurons (median {r['median_neuron_corr']:.2f})")
    ax.set_xlabel("correlation with best match in the other model")
    ax.set_ylabel("density")
    ax.set_title("universality across seeds")
    ax.legend(fontsize=8)
    return save(fig, path)
