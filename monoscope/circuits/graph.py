"""Attribution graphs: every direct linear effect between the nodes of the local replacement model of a prompt.

Nodes, in circuit-tracer's order: active features (layer, position, feature), error nodes (layer, position), token
nodes (position), then the target: a logit (the token's logit minus the mean logit, as circuit-tracer's demeaned
unembedding) or a later feature's pre-activation, at the prompt's last position. A[target, source] is the direct
effect of source on target's input (a feature's pre-activation; the target's value): source activation × the
gradient through the frozen linear paths (replacement.py), with every other node held. The gradients for all
targets come from batched backward passes; a feature's edge is its activation times the gradient at its layer's
written vector dotted with its decoder row, so no [d_sae]-wide gradient is ever formed.

Influence, pruning and the two scores follow circuit-tracer's graph.py: rows of |A| normalised to sum 1, node
influence = w·(Â + Â² + ...) from the target weight w; keep the nodes carrying `node_threshold` of it (tokens and
the target always); replacement score = token influence / (token + error influence); completeness = the
influence-weighted share of each node's normalised input that does not come from error nodes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import torch

from monoscope.circuits.replacement import Frozen, ReplacementModel
from monoscope.errors import MonoscopeError


@dataclass(frozen=True)
class Target:
    """A logit (`token` id) or a feature's pre-activation (`layer`, `feature`), at the prompt's last position."""

    token: int | None = None
    layer: int | None = None
    feature: int | None = None

    @property
    def label(self) -> str:
        return f"logit {self.token}" if self.token is not None else f"L{self.layer}:{self.feature}"


def parse_target(text: str, tokenizer, n_layers: int, d_sae: int) -> Target:
    """'L:FEATURE' (a feature at layer L, e.g. 1:42) or a token (its text, which must be one token of the
    vocabulary, or '#ID')."""
    m = re.fullmatch(r"L?(\d+):(\d+)", text.strip())
    if m:
        layer, feat = int(m.group(1)), int(m.group(2))
        if not 0 < layer < n_layers:
            raise MonoscopeError(
                f"target layer {layer} must be a later layer, 1..{n_layers - 1} (layer 0 has no sources)"
            )
        if not 0 <= feat < d_sae:
            raise MonoscopeError(f"target feature {feat} is out of range; the transcoders have 0..{d_sae - 1}")
        return Target(layer=layer, feature=feat)
    if text.startswith("#") and text[1:].isdigit():
        tid = int(text[1:])
        if not 0 <= tid < tokenizer.get_vocab_size():
            raise MonoscopeError(
                f"token id {tid} is out of range; the vocabulary has 0..{tokenizer.get_vocab_size() - 1}"
            )
        return Target(token=tid)
    tid = tokenizer.token_to_id(text)
    if tid is None:
        ids = tokenizer.encode(text).ids
        if len(ids) != 1:
            raise MonoscopeError(
                f"target token {text!r} is not one token of the vocabulary (it encodes as {len(ids)}); "
                "give one token, '#ID', or L:FEATURE"
            )
        tid = ids[0]
    return Target(token=int(tid))


@dataclass
class Graph:
    """The unpruned graph: node tables and the dense adjacency A [n, n] (rows: targets, columns: sources)."""

    tokens: list[int]
    target: Target
    features: torch.Tensor  # [n_f, 3] (layer, position, feature)
    activations: torch.Tensor  # [n_f]
    n_layers: int
    adjacency: torch.Tensor  # [n, n]
    target_value: float
    seconds: float = 0.0
    extras: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_pos(self) -> int:
        return len(self.tokens)

    @property
    def error_start(self) -> int:
        return self.n_features

    @property
    def token_start(self) -> int:
        return self.n_features + self.n_layers * self.n_pos

    @property
    def n_nodes(self) -> int:
        return self.token_start + self.n_pos + 1

    def error_index(self, layer: int, pos: int) -> int:
        return self.error_start + layer * self.n_pos + pos

    def node_label(self, i: int) -> dict:
        """What node i is: kind and place."""
        if i < self.n_features:
            L, p, f = (int(v) for v in self.features[i])
            return {"kind": "feature", "layer": L, "pos": p, "feature": f, "activation": float(self.activations[i])}
        if i < self.token_start:
            L, p = divmod(i - self.error_start, self.n_pos)
            return {"kind": "error", "layer": L, "pos": p}
        if i < self.n_nodes - 1:
            p = i - self.token_start
            return {"kind": "token", "pos": p, "token": int(self.tokens[p])}
        return {"kind": "target", "pos": self.n_pos - 1, "label": self.target.label}


def _sources(fr: Frozen, n_layers: int, upto_layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Active features of layers < upto_layer: ([n, 3] (layer, pos, feature), activations [n])."""
    idx, vals = [], []
    for L in range(upto_layer):
        pos, feat = fr.acts[L].nonzero(as_tuple=True)
        idx.append(torch.stack([torch.full_like(pos, L), pos, feat], 1))
        vals.append(fr.acts[L][pos, feat])
    return torch.cat(idx).cpu(), torch.cat(vals)


def target_value(rep: ReplacementModel, target: Target, logits: torch.Tensor, xs: list[torch.Tensor]) -> torch.Tensor:
    """The target's value at the last position: the logit minus the mean logit, or the feature's pre-activation."""
    if target.token is not None:
        return logits[-1, target.token] - logits[-1].mean()
    tc = rep.tcs[target.layer]
    return xs[target.layer][-1] @ tc.W_enc[:, target.feature] + tc.b_enc[target.feature]


def feature_rows(rep: ReplacementModel, feats: torch.Tensor, xs: list[torch.Tensor]) -> torch.Tensor:
    """The pre-activations of the graph's feature nodes [n_f] (each at its layer and position)."""
    out = torch.empty(len(feats), dtype=rep.dtype, device=rep.device)
    f = feats.to(rep.device)
    for L, tc in enumerate(rep.tcs):
        m = f[:, 0] == L
        if m.any():
            out[m] = (xs[L][f[m, 1]] * tc.W_enc[:, f[m, 2]].T).sum(-1) + tc.b_enc[f[m, 2]]
    return out


def attribute(rep: ReplacementModel, tokens: torch.Tensor, target: Target, batch: int = 256) -> Graph:
    """The graph of `target` on `tokens` [T] (BOS first) in the replacement model `rep`."""
    t0 = time.time()
    T = len(tokens)
    if rep.model.cfg.n_ctx < T:
        raise MonoscopeError(f"the prompt has {T} tokens, more than the model's context of {rep.model.cfg.n_ctx}")
    fr = rep.freeze(tokens)
    n_layers = rep.n_layers
    upto = n_layers if target.token is not None else int(target.layer)
    feats, acts = _sources(fr, n_layers, upto)
    n_f = len(feats)
    # target rows: each feature (its pre-activation), then the target
    n = n_f + n_layers * T + T + 1
    A = torch.zeros(n, n, dtype=rep.dtype, device=rep.device)

    embed = fr.embed.clone().requires_grad_(True)
    written = [w.clone().requires_grad_(True) for w in rep.written(fr)]
    logits, xs = rep.run(fr, embed, written)
    tv = target_value(rep, target, logits, xs)
    # a row's gradient is seeded at its layer's MLP input (pre = x @ W_enc + b_enc): the encoder column at its
    # position, so nothing d_sae-wide enters the backward
    W_enc = [tc.W_enc for tc in rep.tcs]
    W_dec = [tc.W_dec for tc in rep.tcs]
    feat_dev = feats.to(rep.device)
    leaves = [embed, *written[:upto]]
    n_rows = n_f + 1
    for a in range(0, n_rows, batch):
        b = min(n_rows, a + batch)
        B = b - a
        seeds = [torch.zeros(B, T, x.shape[-1], dtype=rep.dtype, device=rep.device) for x in xs]
        seed_t = torch.zeros(B, dtype=rep.dtype, device=rep.device)
        r = torch.arange(a, min(b, n_f), device=rep.device)
        for L in range(upto):
            m = feat_dev[r, 0] == L
            if m.any():
                seeds[L][(r - a)[m], feat_dev[r[m], 1]] = W_enc[L][:, feat_dev[r[m], 2]].T
        if b == n_rows:  # the target's row
            if target.token is not None:
                seed_t[B - 1] = 1
            else:
                seeds[target.layer][B - 1, T - 1] = W_enc[target.layer][:, target.feature]
        grads = torch.autograd.grad(
            [*xs, tv],
            leaves,
            grad_outputs=[*seeds, seed_t],
            is_grads_batched=True,
            retain_graph=True,
            allow_unused=True,
        )
        row_ids = torch.arange(a, b, device=rep.device)
        if b == n_rows:
            row_ids[-1] = n - 1
        if grads[0] is not None:
            A[row_ids[:, None], n_f + n_layers * T + torch.arange(T, device=rep.device)] = (grads[0] * fr.embed).sum(-1)
        for L in range(upto):
            g = grads[1 + L]  # [B, T, d_out]
            if g is None:
                continue
            A[row_ids[:, None], n_f + L * T + torch.arange(T, device=rep.device)] = (g * fr.errors[L]).sum(-1)
            sel = (feat_dev[:, 0] == L).nonzero().flatten()
            if len(sel):
                pos, fid = feat_dev[sel, 1], feat_dev[sel, 2]
                # a feature's edge: activation × (gradient at its position · its decoder row)
                A[row_ids[:, None], sel] = torch.einsum("bsd,sd->bs", g[:, pos], W_dec[L][fid]) * acts[sel]
    return Graph(
        tokens=[int(v) for v in tokens],
        target=target,
        features=feats,
        activations=acts.detach().cpu(),
        n_layers=n_layers,
        adjacency=A.detach().cpu(),
        target_value=float(tv.detach()),
        seconds=time.time() - t0,
    )


# ---- influence, pruning and scores (circuit-tracer's definitions) -----------------------------------------------
def normalize_matrix(A: torch.Tensor) -> torch.Tensor:
    a = A.abs()
    return a / a.sum(1, keepdim=True).clamp_min(1e-10)


def compute_influence(A: torch.Tensor, w: torch.Tensor, max_iter: int = 1000) -> torch.Tensor:
    """w·(A + A² + ...): A is nilpotent (edges go forward in layers), so the series ends."""
    cur = w @ A
    total = cur.clone()
    for _ in range(max_iter):
        if not cur.any():
            return total
        cur = cur @ A
        total += cur
    raise MonoscopeError(f"influence did not converge in {max_iter} steps: the graph has a cycle")


def target_weights(g: Graph) -> torch.Tensor:
    w = torch.zeros(g.n_nodes, dtype=g.adjacency.dtype)
    w[-1] = 1.0
    return w


def node_influence(g: Graph) -> torch.Tensor:
    return compute_influence(normalize_matrix(g.adjacency), target_weights(g))


def find_threshold(scores: torch.Tensor, share: float) -> torch.Tensor:
    s = torch.sort(scores, descending=True).values
    cum = torch.cumsum(s, 0) / s.sum().clamp_min(1e-30)
    return s[min(int(torch.searchsorted(cum, torch.tensor(share, dtype=cum.dtype))), len(s) - 1)]


@dataclass
class Pruned:
    node_mask: torch.Tensor  # [n] bool
    influence: torch.Tensor  # [n]


def prune(g: Graph, node_threshold: float = 0.8) -> Pruned:
    """The nodes carrying `node_threshold` of the target's influence (tokens and the target always kept), less
    feature and error nodes left with no edge out (circuit-tracer's node pruning)."""
    if not 0.0 <= node_threshold <= 1.0:
        raise MonoscopeError(f"node threshold must lie in [0, 1], got {node_threshold}")
    inf = node_influence(g)
    keep = inf >= find_threshold(inf, node_threshold)
    keep[g.token_start :] = True
    while True:  # a kept feature needs an edge into a kept node, and (a feature) one from a kept node
        A = g.adjacency * keep[:, None] * keep[None, :]
        out_ok = (A != 0).any(0)
        in_ok = (A != 0).any(1)
        new = keep.clone()
        new[: g.token_start] &= out_ok[: g.token_start]
        new[: g.n_features] &= in_ok[: g.n_features]
        if torch.equal(new, keep):
            return Pruned(keep, inf)
        keep = new


def graph_scores(g: Graph, node_mask: torch.Tensor | None = None) -> dict[str, float]:
    """(replacement score, completeness score) of a graph, or of its subgraph `node_mask` (pruned nodes removed)."""
    A = g.adjacency if node_mask is None else g.adjacency * node_mask[:, None] * node_mask[None, :]
    w = target_weights(g)
    An = normalize_matrix(A)
    inf = compute_influence(An, w)
    tok = inf[g.token_start : g.n_nodes - 1].sum()
    err = inf[g.error_start : g.token_start].sum()
    replacement = tok / (tok + err) if tok + err > 0 else torch.tensor(0.0)
    non_err = 1 - An[:, g.error_start : g.token_start].sum(-1)
    out = inf + w
    completeness = (non_err * out).sum() / out.sum()
    return {"replacement_score": float(replacement), "completeness_score": float(completeness)}
