"""Specificity and sensitivity of features (and neurons) for hypothesised contexts.

For a unit that "fires" when its activation exceeds its threshold
(`fires_frac` × its maximum on the selection tokens, the same rule for SAE
features and for neurons):

- specificity: share of its firings that fall inside the context, and share of
  its activation mass that does, at each activation level;
- sensitivity: share of in-context tokens on which it fires.

The best unit for a context is the one with the highest F1 (harmonic mean of
the two) on *selection* tokens (training split), and its numbers are then
measured on separate *evaluation* tokens (validation split), so the choice
does not flatter the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.features.contexts import Context, TokenTable, build_token_table, rates
from monoscope.features.family import context_family


def _sparse():
    import scipy.sparse as sp  # imported when first needed: keeps the CLI's start fast

    return sp


@dataclass
class TokenActs:
    """Hook activations (dense, the model's own basis) and SAE feature activations (sparse) on the same tokens."""

    table: TokenTable
    neurons: np.ndarray  # [n, d_in] float32
    features: list  # scipy.sparse.csc_matrix [n, d_sae] per SAE

    def __len__(self) -> int:
        return len(self.table)


@torch.no_grad()
def collect(
    model,
    saes: list,
    dataset,
    hook: str,
    split: str = "val",
    n_contexts: int | None = None,
    start: int = 0,
    batch: int = 32,
    progress: bool = True,
    rows: np.ndarray | None = None,
) -> TokenActs:
    """Run `model` over contexts of `split` and record `hook` and each SAE's features at the positions that count
    (`dataset.positions`: no BOS or separator).

    Contexts `start` .. `start + n_contexts`, or exactly the context indices `rows` when given.
    """
    sp = _sparse()
    s = dataset.split(split)
    if rows is None:
        stop = len(s) if n_contexts is None else min(len(s), start + int(n_contexts))
        if stop <= start:
            raise MonoscopeError(f"{split} split has {len(s)} contexts; none left from {start}")
        ids = torch.arange(start, stop)
    else:
        ids = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        if len(ids) == 0 or int(ids.min()) < 0 or int(ids.max()) >= len(s):
            raise MonoscopeError(f"{split} split has {len(s)} contexts; asked for {len(ids)} rows outside it")
    dev = next(iter(saes[0].parameters())).device if saes else torch.device("cpu")
    rule = dataset.positions
    neurons = []
    feats = [([], [], []) for _ in saes]
    meta = {k: [] for k in ("tokens", "doc", "pos", "row", "col")}
    n = 0
    for b in tqdm(range(0, len(ids), batch), desc=f"{split} activations", disable=not progress, leave=False):
        sel = ids[b : b + batch]
        toks = s.tokens[sel]
        _, cache = model.run_with_cache(toks.to(dev), names=[hook], stop_early=True)
        keep = rule.mask(toks)
        x = cache[hook][keep.to(dev)].float()
        r, c = keep.nonzero(as_tuple=True)
        meta["tokens"].append(toks[keep].numpy())
        meta["doc"].append(s.doc[sel][keep].numpy())
        meta["pos"].append(s.pos[sel][keep].numpy())
        meta["row"].append(sel[r].numpy())
        meta["col"].append(c.numpy())
        neurons.append(x.cpu().numpy().astype(np.float32))
        for sae, (ri, ci, vi) in zip(saes, feats):
            f = sae.encode(x)
            i, j = f.nonzero(as_tuple=True)
            ri.append((i + n).cpu().numpy())
            ci.append(j.cpu().numpy())
            vi.append(f[i, j].cpu().numpy())
        n += len(x)
    m = {k: np.concatenate(v) for k, v in meta.items()}
    table = build_token_table(dataset, m["tokens"], m["doc"], m["pos"], m["row"], m["col"])
    mats = [
        sp.coo_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(n, sae.d_sae)).tocsc()
        for sae, (r, c, v) in zip(saes, feats)
    ]
    return TokenActs(table, np.concatenate(neurons), mats)


def unit_max(acts) -> np.ndarray:
    """Maximum activation of each unit (column)."""
    if isinstance(acts, np.ndarray):
        return acts.max(0) if len(acts) else np.zeros(acts.shape[1])
    return np.asarray(acts.max(axis=0).toarray()).ravel()


def thresholds(max_acts: np.ndarray, fires_frac: float) -> np.ndarray:
    """A unit fires above fires_frac × its max (and never at or below 0)."""
    return np.maximum(fires_frac * np.maximum(max_acts, 0.0), 0.0)


def score_units(acts, mask: np.ndarray, thr: np.ndarray) -> dict[str, np.ndarray]:
    """Per-unit counts and rates: specificity (count and mass), sensitivity, F1.

    `mask` is [n] for one context or [n, C] for C contexts at once (results then [C, d_units]).
    """
    mask = np.asarray(mask, dtype=bool)
    one = mask.ndim == 1
    M = (mask[:, None] if one else mask).astype(np.float32)
    d = acts.shape[1]
    if isinstance(acts, np.ndarray):
        fire = (acts > thr[None, :]).astype(np.float32)
        w = acts * fire
        n_fire, mass = fire.sum(0, dtype=np.float64), w.sum(0, dtype=np.float64)
        n_in_fire, mass_in = (M.T @ fire).astype(np.float64), (M.T @ w).astype(np.float64)
    else:
        col = np.repeat(np.arange(d), np.diff(acts.indptr))
        fired = (acts.data > thr[col]).astype(np.float32)
        F = acts.__class__((fired, acts.indices, acts.indptr), shape=acts.shape)
        W = acts.__class__((acts.data * fired, acts.indices, acts.indptr), shape=acts.shape)
        n_fire = np.bincount(col, weights=fired, minlength=d)
        mass = np.bincount(col, weights=acts.data * fired, minlength=d)
        n_in_fire = np.asarray((F.T @ M).T, dtype=np.float64)
        mass_in = np.asarray((W.T @ M).T, dtype=np.float64)
    n_in = M.sum(0).astype(np.float64)[:, None]
    r = rates(n_in_fire, n_fire[None], n_in)
    spec_mass = np.divide(mass_in, mass[None], out=np.zeros_like(mass_in), where=mass[None] > 0)
    out = {
        "specificity": r["specificity"],
        "sensitivity": r["sensitivity"],
        "specificity_mass": spec_mass,
        "f1": r["f1"],
        "n_fire": np.broadcast_to(n_fire, n_in_fire.shape),
    }
    return {k: v[0] for k, v in out.items()} if one else out


def column(acts, j: int) -> np.ndarray:
    if isinstance(acts, np.ndarray):
        return acts[:, j].astype(np.float64)
    return np.asarray(acts[:, j].toarray()).ravel().astype(np.float64)


def column_correlations(acts, v: np.ndarray) -> np.ndarray:
    """Pearson correlation of every unit's activation with per-token values v ([n] -> [d]; [n, C] -> [C, d])."""
    n = acts.shape[0]
    one = v.ndim == 1
    V = (v[:, None] if one else v).astype(np.float64)
    V = V - V.mean(0)
    if isinstance(acts, np.ndarray):
        mu = acts.mean(0, dtype=np.float64)
        sq = np.einsum("ij,ij->j", acts, acts, dtype=np.float64)
        cross = (acts.T @ V.astype(np.float32)).astype(np.float64)
    else:
        mu = np.asarray(acts.mean(axis=0)).ravel()
        sq = np.asarray(acts.multiply(acts).sum(axis=0)).ravel()
        cross = np.asarray(acts.T @ V)
    var = np.maximum(sq - n * mu * mu, 0)
    den = np.sqrt(np.outer(var, (V * V).sum(0)))
    out = np.divide(cross, den, out=np.zeros_like(cross), where=den > 0).T
    return out[0] if one else out


GOAL_SPEC, GOAL_SENS = (
    0.9,
    0.5,
)  # the domain goal: specificity ≥ 0.9 and sensitivity ≥ 0.5 (and beating the best neuron)


def beats(a: dict, b: dict | None) -> bool:
    """a beats b on both specificity and sensitivity (anything beats no unit)."""
    return b is None or (a["specificity"] > b["specificity"] and a["sensitivity"] > b["sensitivity"])


def meets_thresholds(u: dict | None) -> bool:
    return bool(u) and u["specificity"] >= GOAL_SPEC and u["sensitivity"] >= GOAL_SENS


LEVELS = np.round(np.linspace(0.0, 0.95, 20), 3)


def unit_profile(a: np.ndarray, values: np.ndarray, ctx: Context, thr: float, bins: int = 30) -> dict:
    """Specificity curves over activation levels and the activation histogram stacked by proxy value."""
    mask = ctx.mask(values)
    top = float(a.max()) if len(a) else 0.0
    levels = []
    for frac in LEVELS:
        lv = max(thr, frac * top)
        f = a > lv
        n = int(f.sum())
        mass = float(a[f].sum())
        levels.append(
            {
                "frac_of_max": float(frac),
                "level": lv,
                "n_fire": n,
                "specificity": float((f & mask).sum() / n) if n else None,
                "specificity_mass": float(a[f & mask].sum() / mass) if mass > 0 else None,
            }
        )
    f = a > thr
    edges = np.linspace(thr, max(top, thr + 1e-6), bins + 1)
    groups = ctx.binned(values[f])
    hist, ev = [], []
    for g in range(len(ctx.bin_labels())):
        sel = groups == g
        hist.append(np.histogram(a[f][sel], edges)[0].tolist())
        ev.append(np.histogram(a[f][sel], edges, weights=a[f][sel])[0].tolist())
    return {
        "max": top,
        "threshold": thr,
        "levels": levels,
        "edges": edges.tolist(),
        "labels": ctx.bin_labels(),
        "hist": hist,
        "expected_value": ev,
    }


def best_units(scores: dict[str, np.ndarray], k: int, min_fires: int = 5) -> list[int]:
    """Top-k units by F1, among units that fire at least `min_fires` times."""
    f1 = np.where(scores["n_fire"] >= min_fires, scores["f1"], -1.0)
    order = np.argsort(-f1, kind="stable")[:k]
    return [int(i) for i in order if f1[i] > 0]


def unit_numbers(scores: dict[str, np.ndarray], j: int) -> dict:
    return {k: float(scores[k][j]) for k in ("specificity", "sensitivity", "specificity_mass", "f1")} | {
        "n_fire": int(scores["n_fire"][j])
    }


def evaluate_contexts(
    contexts: list[Context],
    select: TokenActs,
    evaluate: TokenActs,
    sae_index: int = 0,
    fires_frac: float = 0.1,
    top_k: int = 5,
    family: int = 32,
) -> list[dict]:
    """Best features and best neuron per context: chosen on `select`, measured on `evaluate`.

    With `family` > 0, each context also gets its feature family (`family.context_family`) grown from its
    `family` best features. A context that matches no token gets {"error": ...} instead of numbers (the others go on).
    """
    out: list[dict] = []
    ok: list[tuple[Context, dict, np.ndarray]] = []
    for ctx in contexts:
        sv, ev = ctx.values(select.table), ctx.values(evaluate.table)
        sm, em = ctx.mask(sv), ctx.mask(ev)
        r = {"name": ctx.name, "kind": ctx.kind, "description": ctx.description, "threshold": ctx.threshold}
        if not sm.any() or not em.any():
            where, n = ("selection", len(sm)) if not sm.any() else ("evaluation", len(em))
            r["error"] = f"context {ctx.name!r} matches no token of the {n} {where} tokens; nothing to test"
        else:
            r.update(
                {
                    "n_in_select": int(sm.sum()),
                    "n_in_eval": int(em.sum()),
                    "n_eval": int(len(em)),
                    "fires_frac": fires_frac,
                    "_sm": sm,
                    "_em": em,
                }
            )
            ok.append((ctx, r, ev))
        out.append(r)
    if not ok:
        return out
    SM = np.stack([r.pop("_sm") for _, r, _ in ok], 1)
    EM = np.stack([r.pop("_em") for _, r, _ in ok], 1)
    EV = np.stack([ev for _, _, ev in ok], 1)
    for unit, s_acts, e_acts in (
        ("feature", select.features[sae_index], evaluate.features[sae_index]),
        ("neuron", select.neurons, evaluate.neurons),
    ):
        thr = thresholds(unit_max(s_acts), fires_frac)
        s_scores = score_units(s_acts, SM, thr)
        e_scores = score_units(e_acts, EM, thr)
        corr = column_correlations(e_acts, EV)
        for c, (ctx, r, ev) in enumerate(ok):
            sc = {k: v[c] for k, v in s_scores.items()}
            es = {k: v[c] for k, v in e_scores.items()}
            picks = best_units(sc, top_k if unit == "feature" else 1)
            rows = [
                {"index": j, **unit_numbers(es, j), "select_f1": float(sc["f1"][j]), "proxy_corr": float(corr[c, j])}
                for j in picks
            ]
            if unit == "feature":
                r["features"] = rows
                if family > 0:
                    r["family"] = context_family(s_acts, e_acts, thr, SM[:, c], EM[:, c], best_units(sc, family))
            else:
                r["neuron"] = rows[0] if rows else None
            r[f"max_{unit}_proxy_corr"] = float(corr[c].max()) if corr.shape[1] else 0.0
            if picks:
                r[f"{unit}_profile"] = unit_profile(column(e_acts, picks[0]), ev, ctx, float(thr[picks[0]]))
    for _, r, _ in ok:
        best, nb = (r["features"][0] if r["features"] else None), r["neuron"]
        r["best_feature"] = best
        r["feature_beats_neuron"] = bool(best and beats(best, nb))
        r["goal_met"] = meets_thresholds(best) and r["feature_beats_neuron"]
    return out


def evaluate_context(
    ctx: Context, select: TokenActs, evaluate: TokenActs, sae_index: int = 0, fires_frac: float = 0.1, top_k: int = 5
) -> dict:
    """One context; raises MonoscopeError when it matches no token."""
    r = evaluate_contexts([ctx], select, evaluate, sae_index, fires_frac, top_k)[0]
    if "error" in r:
        raise MonoscopeError(r["error"])
    return r


def plot_context(r: dict, path) -> Path:
    """Rows: best feature, best neuron. Columns: activation histogram and expected-value plot stacked by proxy
    value, and specificity over activation levels."""
    from monoscope.plots import plt, save

    units = [
        (u, r.get(f"{u}_profile"), (r.get("best_feature") if u == "feature" else r.get("neuron")))
        for u in ("feature", "neuron")
    ]
    units = [u for u in units if u[1] is not None]
    fig, axes = plt.subplots(max(1, len(units)), 3, figsize=(15, 3.6 * max(1, len(units))), squeeze=False)
    fig.subplots_adjust(hspace=0.45, wspace=0.25)
    colors = plt.get_cmap("viridis")
    for row, (unit, prof, nums) in zip(axes, units):
        edges = np.asarray(prof["edges"])
        for ax, key, ylabel in ((row[0], "hist", "tokens"), (row[1], "expected_value", "activation × tokens")):
            bottom = np.zeros(len(edges) - 1)
            k = len(prof["labels"])
            for g, label in enumerate(prof["labels"]):
                h = np.asarray(prof[key][g], dtype=float)
                ax.stairs(
                    bottom + h, edges, baseline=bottom.copy(), fill=True, color=colors(g / max(1, k - 1)), label=label
                )
                bottom += h
            ax.set_xlabel("activation")
            ax.set_ylabel(ylabel)
        row[0].set_title(f"{unit} {nums['index']}: spec {nums['specificity']:.2f}, sens {nums['sensitivity']:.2f}")
        row[1].set_title("expected value (weighted by activation)")
        row[0].legend(fontsize=6)
        lv = [x for x in prof["levels"] if x["specificity"] is not None]
        row[2].plot(
            [x["frac_of_max"] for x in lv], [x["specificity"] for x in lv], marker=".", label="share of firings"
        )
        row[2].plot(
            [x["frac_of_max"] for x in lv], [x["specificity_mass"] for x in lv], marker=".", label="share of mass"
        )
        row[2].set_ylim(-0.02, 1.02)
        row[2].set_xlabel("activation level (fraction of max)")
        row[2].set_title("specificity above each level")
        row[2].legend(fontsize=7)
        row[2].grid(alpha=0.3)
    fig.suptitle(f"context {r['name']} ({r['n_in_eval']} of {r['n_eval']} evaluation tokens in context)")
    return save(fig, path)
