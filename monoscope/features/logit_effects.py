"""Direct logit effects: a feature's decoder direction pushed through the rest of the model to the unembedding.

For an MLP-neuron SAE (`blocks.L.mlp.hook_post`) the decoder row lives in neuron
space: the MLP's output weights map it into the residual stream. A
residual-stream hook (`hook_resid_*`, `hook_mlp_out`, `hook_attn_out`,
`hook_embed`) is already there (`model.residual_path`). The final norm is
approximated as linear: centre (LayerNorm; not RMSNorm), divide by a typical
scale measured on real tokens, multiply by its weight; then the unembedding
(`model.unembed`, the built-in GPT and every mapped Hugging Face causal LM).
This is the direct path only: later layers of a deeper model are not included.
"""

from __future__ import annotations

import torch


def residual_directions(model, hook: str, W_dec: torch.Tensor) -> torch.Tensor | None:
    """Decoder rows [d_sae, d_in] as residual-stream directions [d_sae, d_model], or None when the hook has no
    linear path."""
    path = model.residual_path(hook)
    return None if path is None else path.apply(W_dec)


@torch.no_grad()
def typical_ln_scale(model, tokens: torch.Tensor) -> float | None:
    """Mean scale the final norm divides by, on a batch of real tokens (None without an unembedding)."""
    u = model.unembed
    if u is None:
        return None
    _, cache = model.run_with_cache(tokens, names=[u.hook], stop_early=True)
    return float(u.scale(cache[u.hook])[:, 1:].mean())


@torch.no_grad()
def no_logit_effects_reason(model) -> str:
    """What a page says in place of the logit panels when logit_effects gave None."""
    if model.unembed is None:
        return "the model has no unembedding (an encoder, or no final norm mapped): no logit effects"
    return "not available for this hook"


def logit_effects(
    model, hook: str, W_dec: torch.Tensor, scale: float | None, k: int = 10, bins: int = 32, chunk: int = 1024
) -> dict | None:
    """Per feature: top-k and bottom-k token ids with effects, and a histogram of the effect on every token."""
    u = model.unembed
    if scale is None or u is None:
        return None
    dirs = residual_directions(model, hook, W_dec)
    if dirs is None:
        return None
    top_i, top_v, bot_i, bot_v, hists = [], [], [], [], []
    for s in range(0, dirs.shape[0], chunk):
        eff = u.direct(dirs[s : s + chunk], scale)  # [chunk, vocab]
        v, i = eff.topk(k, dim=1)
        top_i.append(i), top_v.append(v)
        v, i = eff.topk(k, dim=1, largest=False)
        bot_i.append(i), bot_v.append(v)
        lo, hi = eff.min(1).values, eff.max(1).values
        width = ((hi - lo) / bins).clamp_min(1e-12)
        b = ((eff - lo[:, None]) / width[:, None]).long().clamp_(0, bins - 1)
        h = torch.zeros(eff.shape[0], bins, dtype=torch.long).scatter_add_(1, b, torch.ones_like(b))
        hists.append((lo, hi, h))
    lo = torch.cat([h[0] for h in hists])
    hi = torch.cat([h[1] for h in hists])
    return {
        "top_i": torch.cat(top_i),
        "top_v": torch.cat(top_v),
        "bot_i": torch.cat(bot_i),
        "bot_v": torch.cat(bot_v),
        "lo": lo,
        "hi": hi,
        "hist": torch.cat([h[2] for h in hists]),
        "bins": bins,
        "scale": scale,
    }


def logit_panel(eff: dict | None, i: int) -> dict | None:
    if eff is None:
        return None
    lo, hi, bins = float(eff["lo"][i]), float(eff["hi"][i]), eff["bins"]
    w = (hi - lo) / bins
    return {
        "top": [[int(t), round(float(v), 4)] for t, v in zip(eff["top_i"][i], eff["top_v"][i])],
        "bottom": [[int(t), round(float(v), 4)] for t, v in zip(eff["bot_i"][i], eff["bot_v"][i])],
        "hist": {"edges": [round(lo + w * j, 5) for j in range(bins + 1)], "counts": eff["hist"][i].tolist()},
    }


@torch.no_grad()
def decoder_neighbours(W_dec: torch.Tensor, k: int = 10, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The k features whose decoder directions have the largest cosine with each feature's."""
    W = W_dec / W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    k = min(k, W.shape[0] - 1)
    idx, val = [], []
    for s in range(0, W.shape[0], chunk):
        cos = W[s : s + chunk] @ W.T
        cos[torch.arange(cos.shape[0]), torch.arange(s, s + cos.shape[0])] = -2.0
        v, i = cos.topk(k, dim=1)
        idx.append(i), val.append(v)
    return torch.cat(idx), torch.cat(val)


@torch.no_grad()
def neuron_alignment(W_dec: torch.Tensor, k: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """The input dimensions (MLP neurons for an MLP hook) with the largest |decoder weight|, signed weights returned."""
    k = min(k, W_dec.shape[1])
    i = W_dec.abs().topk(k, dim=1).indices
    return i, W_dec.gather(1, i)
