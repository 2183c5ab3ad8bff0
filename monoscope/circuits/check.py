"""Every edge checked by intervention.

Frozen: in the local replacement model (replacement.py), removing one source node and running it again changes
every target by exactly minus its edge from that node (the model is linear in its nodes); one forward per source
checks a whole column of the adjacency. Relative error = |predicted - measured| / max(|measured|, 1e-9 · max|A|)
(edges below a billionth of the largest are compared absolutely).

Real: in the model itself (real MLPs, attention and norms free), ablating a feature (subtracting its activation
times its decoder row from its layer's MLP output at its position) changes the target by some amount; the graph
predicts it as the linearised total effect through the graph, -a_s · v_s with v = J_target (I - J)^-1 (J: the
feature-to-feature derivatives A / a of the unpruned graph; active features pass changes on with slope 1; error
nodes held). Reported over the top features of each prompt by predicted effect.
"""

from __future__ import annotations

import torch

from monoscope.circuits.graph import Graph, feature_rows, target_value
from monoscope.circuits.replacement import ReplacementModel


@torch.no_grad()
def frozen_check(rep: ReplacementModel, g: Graph, sources: list[int] | None = None) -> dict:
    """Max relative error between each checked source's column of A and its measured effect (all sources by
    default: feature, error and token nodes)."""
    fr = rep.freeze(torch.tensor(g.tokens))
    T, n_f = g.n_pos, g.n_features
    base_written = rep.written(fr)

    def rows(embed, written):
        logits, xs = rep.run(fr, embed, written)
        tv = target_value(rep, g.target, logits, xs)
        return torch.cat([feature_rows(rep, g.features, xs), tv[None]]).cpu()

    base = rows(fr.embed, base_written)
    scale = float(g.adjacency.abs().max())
    cols = range(g.n_nodes - 1) if sources is None else sources
    worst, checked = 0.0, 0
    row_idx = torch.tensor([*range(n_f), g.n_nodes - 1])
    for c in cols:
        embed, written = fr.embed, list(base_written)
        if c < n_f:
            L, p, f = (int(v) for v in g.features[c])
            w = written[L].clone()
            w[p] -= fr.acts[L][p, f] * rep.tcs[L].W_dec[f]
            written[L] = w
        elif c < g.token_start:
            L, p = divmod(c - g.error_start, T)
            if len(written) <= L:
                continue
            w = written[L].clone()
            w[p] -= fr.errors[L][p]
            written[L] = w
        else:
            embed = fr.embed.clone()
            embed[c - g.token_start] = 0
        measured = base - rows(embed, written)
        predicted = g.adjacency[row_idx, c]
        err = (predicted - measured).abs() / measured.abs().clamp_min(1e-9 * scale)
        worst = max(worst, float(err.max()))
        checked += 1
    return {"edge_max_rel_error": worst, "sources_checked": checked, "edges_checked": checked * len(row_idx)}


def predicted_total_effects(g: Graph) -> torch.Tensor:
    """For each feature node, the graph's linearised change of the target when the feature is ablated [n_f]."""
    n_f = g.n_features
    a = g.activations.to(g.adjacency.dtype)
    J = g.adjacency[:n_f, :n_f] / a[None, :]
    v_direct = g.adjacency[-1, :n_f] / a
    v = torch.linalg.solve((torch.eye(n_f, dtype=J.dtype) - J).T, v_direct)  # v (I - J) = v_direct
    return -a * v


@torch.no_grad()
def real_check(rep: ReplacementModel, g: Graph, top: int = 10) -> dict:
    """Predicted (graph) and measured (real model) target changes for the `top` features by |predicted effect|."""
    pred = predicted_total_effects(g)
    pick = pred.abs().argsort(descending=True)[:top]
    fr = rep.freeze(torch.tensor(g.tokens))
    model, T = rep.model, g.n_pos
    B = len(pick)
    toks = torch.tensor(g.tokens, device=rep.device)[None].expand(B + 1, -1)  # row B: clean
    hooks = []
    for L, (_, o) in enumerate(rep.ends):
        delta = torch.zeros(B + 1, T, rep.tcs[L].d_out, dtype=rep.dtype, device=rep.device)
        for b, c in enumerate(pick.tolist()):
            Lc, p, f = (int(v) for v in g.features[c])
            if Lc == L:
                delta[b, p] = fr.acts[L][p, f] * rep.tcs[L].W_dec[f]
        hooks.append((o, lambda v, hp, delta=delta: v - delta))
    if g.target.token is not None:
        logits = model.run_with_hooks(toks, fwd_hooks=hooks)[:, -1]
        val = logits[:, g.target.token] - logits.mean(-1)
    else:
        i, _ = rep.ends[g.target.layer]
        _, cache = model.run_with_cache(toks, names=[i], fwd_hooks=hooks)
        val = rep.tcs[g.target.layer].encode_pre(cache[i][:, -1])[:, g.target.feature]
    measured = (val[:B] - val[B]).cpu()
    return {"predicted": pred[pick].tolist(), "measured": measured.tolist(), "features": pick.tolist()}
