"""Linear-probe ceiling per context: how well could *any* single direction of the hook pick the context out?

A ReLU SAE feature fires on a thresholded linear function of the hook's
activation (pre = (x - b_dec) @ W_enc + b_enc), so a logistic regression on
the same activations, with its threshold chosen like a unit's, is roughly the
best one feature could do. It is fitted on its own training tokens (spread over
the training split: 512 dimensions overfit the few in-context selection tokens
of a rare domain), thresholded on the *selection* tokens and measured on the
*evaluation* tokens, like the units it bounds. When it falls short of the
domain goal, the subject model, not the SAE, is the limit. Because a rare
domain's base rate differs between selection and evaluation tokens, a threshold
that gives 0.9 on one can give less on the other; so the report also keeps an
optimistic bound, `tuned`: the same direction with its threshold chosen on the
evaluation tokens. The verdict "the model is the limit" uses `tuned`, so it is
only given when no threshold of the probe direction reaches the goal.
It is a ceiling in that sense only: a logistic fit maximises likelihood, not
specificity/sensitivity, so a unit can occasionally edge past it.

Contexts are packed, so a token near the start of a short document sees mostly
the documents before it. `by_seen` splits the tuned probe's sensitivity by how
many tokens of its own document a token can attend to: a domain the model can
only tell apart after many of its tokens is limited by what a token sees, not
by how the SAE carves the activations. `at_half_sensitivity` names what the
direction confuses the context with: at the threshold where it fires on half
the context's tokens, how many of its other firings fall in each other label.
"""

from __future__ import annotations

import warnings

import numpy as np

from monoscope.errors import MonoscopeError
from monoscope.features.contexts import Context, fire_rates
from monoscope.features.hypotheses import GOAL_SPEC

MIN_SPEC = GOAL_SPEC  # the threshold is chosen for the domain goal's specificity
SEEN_BINS = ((1, 16), (16, 64), (64, None))  # tokens of its own document a token sees, itself included
CONFUSED_TOP = 4  # labels listed among a probe's false positives


def own_document_seen(table) -> np.ndarray:
    """Tokens of its own document each token can attend to: the document may have begun before its context."""
    return np.minimum(table.pos, table.col) + 1


def _by_seen(fire: np.ndarray, y: np.ndarray, seen: np.ndarray) -> list[dict]:
    out = []
    for lo, hi in SEEN_BINS:
        inn = y & (seen >= lo) & (seen < (hi if hi is not None else np.inf))
        out.append(
            {
                "seen": f"{lo}-{hi - 1}" if hi is not None else f"{lo}+",
                "n_in_context": int(inn.sum()),
                "sensitivity": float((fire & inn).sum() / inn.sum()) if inn.any() else None,
            }
        )
    return out


def _logistic():
    from sklearn.exceptions import ConvergenceWarning  # imported when first needed: keeps the CLI's start fast
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression, ConvergenceWarning


def choose_threshold(scores: np.ndarray, y: np.ndarray, min_spec: float = MIN_SPEC) -> tuple[float, str]:
    """Threshold on `scores` (fires when score > threshold): the highest sensitivity whose specificity is ≥ min_spec;
    where no threshold reaches min_spec, the highest F1. Returns (threshold, rule used)."""
    order = np.argsort(-scores, kind="stable")
    s, yy = scores[order], y[order].astype(np.float64)
    last = np.r_[s[1:] != s[:-1], True]  # cut only after the last of tied scores
    tp = np.cumsum(yy)[last]
    k = (np.flatnonzero(last) + 1).astype(np.float64)  # firings at each cut
    spec, sens = tp / k, tp / max(yy.sum(), 1.0)
    ok = np.flatnonzero(spec >= min_spec)
    if len(ok):
        i, rule = ok[np.argmax(sens[ok])], f"max sensitivity with selection specificity >= {min_spec}"
    else:
        f1 = np.divide(2 * spec * sens, spec + sens, out=np.zeros_like(spec), where=(spec + sens) > 0)
        i, rule = int(np.argmax(f1)), f"max F1 (no threshold reached selection specificity {min_spec})"
    cut = np.flatnonzero(last)[i]
    nxt = s[cut + 1] if cut + 1 < len(s) else s[cut] - 1.0
    return float((s[cut] + nxt) / 2), rule


def probe_ceiling(
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    X_sel: np.ndarray,
    y_sel: np.ndarray,
    X_ev: np.ndarray,
    y_ev: np.ndarray,
    min_spec: float = MIN_SPEC,
    max_fit: int = 100_000,
    C: float = 0.1,
    seed: int = 0,
    seen_ev: np.ndarray | None = None,
    label_ev: np.ndarray | None = None,
) -> dict:
    """Fit on (a random subsample of at most `max_fit`) fit tokens, threshold on the selection tokens, measure on eval.

    `seen_ev`: own-document tokens each evaluation token sees (`own_document_seen`), for `tuned.by_seen`;
    `label_ev`: each evaluation token's label (its domain), for `at_half_sensitivity`."""
    y_fit, y_sel, y_ev = (np.asarray(y, bool) for y in (y_fit, y_sel, y_ev))
    if len(X_fit) != len(y_fit) or len(X_sel) != len(y_sel) or len(X_ev) != len(y_ev):
        raise MonoscopeError(
            f"probe: {len(X_fit)}/{len(X_sel)}/{len(X_ev)} activation rows for "
            f"{len(y_fit)}/{len(y_sel)}/{len(y_ev)} labels"
        )
    for name, y in (("fit", y_fit), ("selection", y_sel)):
        if y.all() or not y.any():
            raise MonoscopeError(f"probe: the {name} tokens must hold both in-context and out-of-context tokens")
    LogisticRegression, ConvergenceWarning = _logistic()
    rng = np.random.default_rng(seed)
    fit = np.sort(rng.choice(len(X_fit), max_fit, replace=False)) if len(X_fit) > max_fit else np.arange(len(X_fit))
    if y_fit[fit].all() or not y_fit[fit].any():  # a rare context: keep every in-context token
        fit = np.union1d(fit, np.flatnonzero(y_fit))
    X = X_fit[fit]
    mu, sd = X.mean(0), X.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((X - mu) / sd, y_fit[fit])
    w = clf.coef_[0] / sd
    b = float(clf.intercept_[0] - (mu / sd) @ clf.coef_[0])
    s_sel, s_ev = X_sel @ w + b, X_ev @ w + b
    thr, rule = choose_threshold(s_sel, y_sel, min_spec)
    t_thr, t_rule = choose_threshold(s_ev, y_ev, min_spec)
    t_fire = s_ev > t_thr
    tuned = {**fire_rates(t_fire, y_ev), "threshold_rule": t_rule + ", on the evaluation tokens (optimistic)"}
    if seen_ev is not None:
        tuned["by_seen"] = _by_seen(t_fire, y_ev, np.asarray(seen_ev))
    out = {
        "threshold_rule": rule,
        "n_fit": int(len(fit)),
        "C": C,
        **fire_rates(s_ev > thr, y_ev),
        "selection": fire_rates(s_sel > thr, y_sel),
        "tuned": tuned,
    }
    if label_ev is not None and y_ev.any():
        fire = s_ev > np.quantile(s_ev[y_ev], 0.5)
        names, counts = np.unique(np.asarray(label_ev)[fire & ~y_ev].astype(str), return_counts=True)
        top = np.argsort(-counts, kind="stable")[:CONFUSED_TOP]
        out["at_half_sensitivity"] = {
            **fire_rates(fire, y_ev),
            "false_positives": {str(names[i]): int(counts[i]) for i in top},
        }
    return out


def probe_contexts(contexts: list[Context], results: list[dict], fit, select, evaluate, **kw) -> None:
    """Attach r["probe"] (the ceiling on the hook's activations; {"error"} where it cannot be fitted) to every tested
    context of `results`. `fit`, `select`, `evaluate`: TokenActs of the probe's training, selection and evaluation
    tokens."""
    by = {c.name: c for c in contexts}
    seen, labels = own_document_seen(evaluate.table), evaluate.table.domain
    for r in results:
        if "error" in r:
            continue
        ctx = by[r["name"]]
        ys = [ctx.mask(ctx.values(a.table)) for a in (fit, select, evaluate)]
        try:
            r["probe"] = probe_ceiling(
                fit.neurons, ys[0], select.neurons, ys[1], evaluate.neurons, ys[2], seen_ev=seen, label_ev=labels, **kw
            )
        except MonoscopeError as e:
            r["probe"] = {"error": str(e)}
