"""Input design: search for token sequences that maximally activate a feature (GCG-style).

The objective is the feature's pre-activation at the last token of
[BOS] + sequence (for ReLU SAEs the activation is its positive part, and the
pre-activation still has a gradient while the feature is off). Each step takes
the gradient of the objective with respect to one-hot inputs, ranks the
vocabulary per position by it (Zou et al. 2023's greedy coordinate gradient),
samples single-token substitutions from the top candidates, scores them all
exactly in one batched forward that stops at the hook, and keeps the best
`beam` sequences.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.sae.splice import check_splice
from monoscope.steer.edits import check_features


@dataclass
class DesignConfig:
    length: int = 12  # tokens after BOS
    steps: int = 80
    candidates: int = 256  # substitutions scored per step (over the whole beam)
    top_k: int = 64  # gradient-ranked tokens per position to sample from
    beam: int = 4
    patience: int = 20  # stop after this many steps without improvement
    seed: int = 0

    def __post_init__(self):
        for k in ("length", "steps", "candidates", "top_k", "beam", "patience"):
            if int(getattr(self, k)) < 1:
                raise MonoscopeError(f"design {k} must be a positive integer, got {getattr(self, k)}")


class _Stop(Exception):
    pass


def _embed_table(model) -> torch.Tensor:
    W_E = model.token_embedding
    if W_E is None or "hook_embed" not in model.hook_dict:
        raise MonoscopeError("input design needs a token embedding table and hook_embed; this model has neither")
    return W_E


def _pre_at_hook(
    model, sae, hook: str, feature: int, tokens: torch.Tensor, onehot: torch.Tensor | None = None
) -> torch.Tensor:
    """Feature pre-activation at the last position for each row; with `onehot`, differentiable w.r.t. it."""
    got = {}

    def embed(x, hp):
        return (onehot @ _embed_table(model))[None].to(x.dtype)

    def grab(x, hp):
        got["x"] = x
        raise _Stop

    fwd = ([("hook_embed", embed)] if onehot is not None else []) + [(hook, grab)]
    with model.hooks(fwd):
        with contextlib.suppress(_Stop):
            model(tokens)
    x = got["x"][:, -1].to(sae.W_dec.dtype)
    return sae.pre_subset(x, torch.tensor([feature], device=x.device))[:, 0]


def feature_activation(model, sae, hook: str, feature: int, tokens: torch.Tensor) -> torch.Tensor:
    """The SAE's actual activation of `feature` at the last position of each row."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names=[hook], stop_early=True)
        return sae.encode(cache[hook][:, -1:].to(sae.W_dec.dtype))[:, 0, feature]


def design_inputs(
    model,
    sae,
    feature: int,
    cfg: DesignConfig | None = None,
    bos_id: int = 0,
    hook: str | None = None,
    exclude_ids: Sequence[int] = (),
    init: Sequence[int] | None = None,
    progress: bool = False,
) -> dict:
    """Search for sequences maximising the feature's activation; returns the beam, best first, and the search trace."""
    cfg = cfg or DesignConfig()
    hook = check_splice(model, sae, hook)
    check_features([feature], sae.d_sae)
    W_E = _embed_table(model)
    V = W_E.shape[0]
    if cfg.length + 1 > model.cfg.n_ctx:
        raise MonoscopeError(
            f"design length {cfg.length} does not fit the model's context of {model.cfg.n_ctx} (with BOS)"
        )
    dev = W_E.device
    gen = torch.Generator().manual_seed(cfg.seed)
    allowed = torch.ones(V, dtype=torch.bool)
    allowed[[bos_id, *exclude_ids]] = False
    pool = allowed.nonzero().flatten()
    if init is not None:
        init = list(init)[-cfg.length :]
        if len(init) < cfg.length:
            init = pool[torch.randint(len(pool), (cfg.length - len(init),), generator=gen)].tolist() + init
        start = torch.tensor([init])
    else:
        start = pool[torch.randint(len(pool), (cfg.beam, cfg.length), generator=gen)]
    bos = torch.full((1, 1), bos_id, dtype=torch.long)

    def with_bos(s):
        return torch.cat([bos.expand(len(s), 1), s], 1).to(dev)

    with torch.no_grad():
        scores = _pre_at_hook(model, sae, hook, feature, with_bos(start)).cpu()
    beam, beam_scores = start, scores
    order = beam_scores.argsort(descending=True)[: cfg.beam]
    beam, beam_scores = beam[order], beam_scores[order]
    trace, best, stale = [float(beam_scores[0])], float(beam_scores[0]), 0
    for _step in tqdm(range(cfg.steps), desc="design", disable=not progress, leave=False):
        cands = [beam]
        per = max(1, cfg.candidates // len(beam))
        for b in range(len(beam)):
            seq = with_bos(beam[b : b + 1])[0]
            onehot = torch.nn.functional.one_hot(seq, V).to(W_E.dtype).requires_grad_(True)
            _pre_at_hook(model, sae, hook, feature, seq[None], onehot).sum().backward()
            g = onehot.grad[1:].masked_fill(~allowed.to(dev), float("-inf"))  # [L, V]: first-order gain of each swap
            top = g.topk(min(cfg.top_k, len(pool)), dim=-1).indices.cpu()  # [L, k]
            pos = torch.randint(cfg.length, (per,), generator=gen)
            tok = top[pos, torch.randint(top.shape[1], (per,), generator=gen)]
            c = beam[b].repeat(per, 1)
            c[torch.arange(per), pos] = tok
            cands.append(c)
        cands = torch.unique(torch.cat(cands), dim=0)
        with torch.no_grad():
            sc = torch.cat(
                [
                    _pre_at_hook(model, sae, hook, feature, with_bos(cands[i : i + 512])).cpu()
                    for i in range(0, len(cands), 512)
                ]
            )
        order = sc.argsort(descending=True)[: cfg.beam]
        beam, beam_scores = cands[order], sc[order]
        trace.append(float(beam_scores[0]))
        if trace[-1] > best + 1e-6:
            best, stale = trace[-1], 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    acts = feature_activation(model, sae, hook, feature, with_bos(beam)).cpu()
    return {
        "feature": feature,
        "hook": hook,
        "config": asdict(cfg),
        "steps_run": len(trace) - 1,
        "sequences": [
            {"tokens": beam[i].tolist(), "activation": float(acts[i]), "pre_activation": float(beam_scores[i])}
            for i in range(len(beam))
        ],
        "trace": trace,
    }
