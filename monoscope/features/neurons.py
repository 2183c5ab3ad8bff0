"""Features vs neurons: are SAE features more monosemantic than the hook's own basis?

Numbers (Bricken et al. 2023, "features vs neurons"): for each context, the
best feature's and the best neuron's specificity/sensitivity and correlation
with the proxy; how many neurons a feature's decoder direction spreads over
(|coefficient| ≥ 0.1 after normalising the direction to unit length); and the
share of features whose best-correlated neuron has correlation below 0.3,
i.e. features that no single neuron reproduces.
"""

from __future__ import annotations

import numpy as np

from monoscope.features.hypotheses import TokenActs


def decoder_spread(W_dec: np.ndarray, min_coef: float = 0.1) -> np.ndarray:
    """Number of basis dimensions (neurons) with |coefficient| ≥ min_coef in each unit-normalised decoder row."""
    W = np.asarray(W_dec, dtype=np.float64)
    W = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)
    return (np.abs(W) >= min_coef).sum(1)


def feature_neuron_correlations(feats, neurons: np.ndarray) -> np.ndarray:
    """Pearson correlation [d_sae, d_in] of each feature with each neuron over the same tokens."""
    n = feats.shape[0]
    X = neurons.astype(np.float64)
    mu_x = X.mean(0)
    sd_x = np.sqrt(np.maximum((X * X).sum(0) - n * mu_x**2, 0))
    mu_f = np.asarray(feats.mean(axis=0)).ravel()
    sd_f = np.sqrt(np.maximum(np.asarray(feats.multiply(feats).sum(axis=0)).ravel() - n * mu_f**2, 0))
    cross = np.asarray(feats.T @ X) - n * np.outer(mu_f, mu_x)
    den = np.outer(sd_f, sd_x)
    return np.divide(cross, den, out=np.zeros_like(cross), where=den > 0)


def features_vs_neurons(
    acts: TokenActs,
    W_dec: np.ndarray,
    sae_index: int = 0,
    min_fires: int = 10,
    corr_cut: float = 0.3,
    spread_coef: float = 0.1,
) -> dict:
    """Summary numbers over all live features (≥ min_fires firings on the evaluation tokens)."""
    feats = acts.features[sae_index]
    fires = np.diff(feats.indptr)
    live = fires >= min_fires
    corr = feature_neuron_correlations(feats, acts.neurons)
    best = corr.max(1)
    spread = decoder_spread(W_dec, spread_coef)
    return {
        "n_features": int(feats.shape[1]),
        "n_live": int(live.sum()),
        "min_fires": min_fires,
        "best_neuron_corr": best.tolist(),
        "best_neuron": corr.argmax(1).tolist(),
        "live": live.tolist(),
        "median_best_neuron_corr": float(np.median(best[live])) if live.any() else None,
        "share_best_neuron_corr_below": float((best[live] < corr_cut).mean()) if live.any() else None,
        "corr_cut": corr_cut,
        "spread_coef": spread_coef,
        "decoder_spread": spread.tolist(),
        "median_decoder_spread": float(np.median(spread[live])) if live.any() else None,
        "mean_decoder_spread": float(spread[live].mean()) if live.any() else None,
        "share_spread_over_1": float((spread[live] > 1).mean()) if live.any() else None,
    }


def context_comparison(results: list[dict]) -> list[dict]:
    """One row per tested context: best feature vs best neuron (and the linear-probe ceiling where computed)."""
    rows = []
    for r in results:
        if "error" in r:
            continue
        f, n = r.get("best_feature"), r.get("neuron")
        probe = r.get("probe") or {}  # {"error": ...} where the probe could not be fitted (e.g. a context too rare)
        rows.append(
            {
                "context": r["name"],
                "n_in_eval": r["n_in_eval"],
                "feature": f and f["index"],
                "feature_specificity": f and f["specificity"],
                "feature_sensitivity": f and f["sensitivity"],
                "feature_proxy_corr": f and f["proxy_corr"],
                "neuron": n and n["index"],
                "neuron_specificity": n and n["specificity"],
                "neuron_sensitivity": n and n["sensitivity"],
                "neuron_proxy_corr": n and n["proxy_corr"],
                "max_neuron_proxy_corr": r["max_neuron_proxy_corr"],
                "feature_beats_neuron": r["feature_beats_neuron"],
                "goal_met": r["goal_met"],
                "probe_specificity": probe.get("specificity"),
                "probe_sensitivity": probe.get("sensitivity"),
                "probe_error": probe.get("error"),
            }
        )
    return rows
