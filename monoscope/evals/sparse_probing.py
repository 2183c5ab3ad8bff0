"""Sparse probing (SAEBench, Gao et al. 2024): can k latents do what a probe on the whole activation does?

For each labelled token-level task (a hypothesised context: the corpus's domain
labels, the base64/hex/DNA/script proxies, any `--context NAME=REGEX`), tokens
are split by context row (train: the even, test: the odd ones among the rows
collected, in order, so neighbouring tokens never sit on both sides and packed domains fall on both;
the collected rows may be spread over the split, see evals/bench.py), each side balanced by sampling as
many negatives as positives (SAEBench probes balanced sets). The top k latents
are chosen on the training tokens by the absolute difference of mean activation
between positives and negatives, and scored by an L2 logistic regression (C=1,
1,000 iterations, unscaled inputs) against the same regression on the raw hook
activations — SAEBench's `get_top_k_mean_diff_mask` and `train_sklearn_probe`.
SAEBench mean-pools each text's activations into one example per text; these
tasks label tokens, so each token is an example.
A task with fewer than `min_positive` positive tokens on either side is reported
as too small, not fitted. Result keys follow SAEBench's sparse_probing output
(`llm_test_accuracy`, `sae_top_{k}_test_accuracy`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class SparseProbingConfig:
    ks: tuple[int, ...] = (1, 2, 5, 20)
    min_positive: int = 50
    C: float = 1.0
    max_per_class: int = 2000  # tokens per class and side fitted (a cap on time, not a sample of the result)
    seed: int = 0


def _balanced(idx_pos: np.ndarray, idx_neg: np.ndarray, rng, cap: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(idx_pos), len(idx_neg), cap)
    idx = np.concatenate([rng.choice(idx_pos, n, replace=False), rng.choice(idx_neg, n, replace=False)])
    y = np.concatenate([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
    return idx, y


def _accuracy(X_train, y_train, X_test, y_test, cfg: SparseProbingConfig) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=cfg.C, max_iter=1000, random_state=cfg.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.asarray(X_train, dtype=np.float32), y_train)
    return float((clf.predict(np.asarray(X_test, dtype=np.float32)) == y_test).mean())


def _dense(mat, idx: np.ndarray, cols=None) -> np.ndarray:
    sub = mat[idx] if cols is None else mat[idx][:, cols]
    return sub.toarray() if hasattr(sub, "toarray") else np.asarray(sub)


def probe_task(neurons, features, mask: np.ndarray, train: np.ndarray, cfg: SparseProbingConfig | None = None) -> dict:
    """One task: `mask` [n] in context, `train` [n] the training side; `features` one SAE's [n, d_sae] (sparse ok)."""
    cfg = cfg or SparseProbingConfig()
    mask = np.asarray(mask, dtype=bool)
    n_pos = {"train": int((mask & train).sum()), "test": int((mask & ~train).sum())}
    n_neg = {"train": int((~mask & train).sum()), "test": int((~mask & ~train).sum())}
    if min(n_pos.values()) < cfg.min_positive or min(n_neg.values()) < cfg.min_positive:
        return {
            "skipped": f"too small: {n_pos['train']}/{n_pos['test']} positive and {n_neg['train']}/{n_neg['test']} "
            f"negative tokens (train/test), each needs {cfg.min_positive}",
            "n_positive": n_pos,
        }
    rng = np.random.default_rng(cfg.seed)
    tr, y_tr = _balanced(np.flatnonzero(mask & train), np.flatnonzero(~mask & train), rng, cfg.max_per_class)
    te, y_te = _balanced(np.flatnonzero(mask & ~train), np.flatnonzero(~mask & ~train), rng, cfg.max_per_class)
    out = {"n_positive": n_pos, "llm_test_accuracy": _accuracy(neurons[tr], y_tr, neurons[te], y_te, cfg)}
    F_tr = _dense(features, tr)
    diff = np.abs(F_tr[y_tr].mean(0) - F_tr[~y_tr].mean(0))
    order = np.argsort(-diff, kind="stable")
    for k in cfg.ks:
        cols = order[:k]
        out[f"sae_top_{k}_test_accuracy"] = _accuracy(F_tr[:, cols], y_tr, _dense(features, te, cols), y_te, cfg)
    out["top_latents"] = [int(i) for i in order[: max(cfg.ks)]]
    return out


def sparse_probing(acts, contexts, cfg: SparseProbingConfig | None = None) -> list[dict]:
    """Every context on collected tokens (features.hypotheses.collect): one result list per SAE, one entry per task."""
    cfg = cfg or SparseProbingConfig()
    _, rank = np.unique(acts.table.row, return_inverse=True)  # every other collected row, not row parity:
    train = rank % 2 == 0  # spread rows (every 8th, say) would otherwise land all on one side
    masks = [(c.name, c.kind, c.mask(c.values(acts.table))) for c in contexts]
    return [
        [{"task": name, "kind": kind, **probe_task(acts.neurons, F, m, train, cfg)} for name, kind, m in masks]
        for F in acts.features
    ]
