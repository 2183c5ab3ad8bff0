"""A context's feature family: the few features whose union covers it.

As a dictionary grows, one context splits over several features (base64 into
letters, digits, line ends, ...), each specific but covering part of the
context. The family is grown greedily on the *selection* tokens: start empty,
add the candidate that most raises the F1 of "any member fires", stop when
nothing raises it (or at `max_size`). It is then measured on the evaluation
tokens with the same per-feature thresholds. It is reported beside the single
best feature; the domain goal is about one feature and does not use it.
"""

from __future__ import annotations

import numpy as np

from monoscope.features.contexts import fire_rates

RULE = (
    "family = features added greedily while the F1 of their union ('any member fires') rises on the selection "
    "tokens, measured on the evaluation tokens; shown beside the single best feature, not used by the goal"
)


def _fired(acts, j: int, thr: float) -> np.ndarray:
    """Rows on which column j (of a CSC matrix or a dense array) exceeds thr."""
    if isinstance(acts, np.ndarray):
        return np.flatnonzero(acts[:, j] > thr)
    lo, hi = acts.indptr[j], acts.indptr[j + 1]
    return acts.indices[lo:hi][acts.data[lo:hi] > thr]


def context_family(
    s_acts, e_acts, thr: np.ndarray, s_mask: np.ndarray, e_mask: np.ndarray, candidates: list[int], max_size: int = 8
) -> dict | None:
    """Greedy union of `candidates` (CSC feature matrices) for one context; None without candidates."""
    if not candidates:
        return None
    fired_s = {j: _fired(s_acts, j, thr[j]) for j in candidates}
    union = np.zeros(len(s_mask), bool)
    chosen: list[int] = []
    best_f1 = 0.0
    while len(chosen) < max_size:
        gains = []
        for j in candidates:
            if j in chosen:
                continue
            trial = union.copy()
            trial[fired_s[j]] = True
            gains.append((fire_rates(trial, s_mask)["f1"], j))
        if not gains:
            break
        f1, j = max(gains)
        if f1 <= best_f1 + 1e-4:
            break
        chosen.append(j)
        union[fired_s[j]] = True
        best_f1 = f1
    if not chosen:
        return None
    ev = np.zeros(len(e_mask), bool)
    for j in chosen:
        ev[_fired(e_acts, j, thr[j])] = True
    r = fire_rates(ev, e_mask)
    return {
        "features": chosen,
        "size": len(chosen),
        "specificity": r["specificity"],
        "sensitivity": r["sensitivity"],
        "f1": r["f1"],
        "select_f1": best_f1,
    }
