"""What a feature does on one example: ablation effects per token and its contributions to output and logits.

- Ablation (Bricken et al. 2023): zero the feature (keeping the error term) and
  record, for each token, the change in the log-likelihood the model gave it.
- Contributions: activation x decoder direction, carried linearly to the
  layer's output (e.g. through W_out for MLP neurons) and on to the logits
  along the direct path, with the final LayerNorm's scale frozen at its clean
  value (direct logit attribution). Every term is returned with a check that
  all features + SAE bias + error term + layer bias give the real layer output,
  and that adding the rest of the residual stream gives the real logits.
"""

from __future__ import annotations

import re

import torch

from monoscope.errors import MonoscopeError
from monoscope.steer.edits import Edit, check_features
from monoscope.steer.splice import check_splice, steer


@torch.no_grad()
def ablation_effects(
    model, sae, tokens: torch.Tensor, feature: int, hook: str | None = None, error_term: bool = True
) -> dict:
    """Per token j >= 1: log p(token_j | prefix) with the feature zero-ablated minus clean; and the feature's
    activation."""
    hook = check_splice(model, sae, hook)
    check_features([feature], sae.d_sae)
    t = tokens.reshape(1, -1)
    if t.shape[1] < 2:
        raise MonoscopeError("need at least one token after BOS to measure effects on")
    logits, cache = model.run_with_cache(t, names=[hook])
    acts = sae.encode(cache[hook].to(sae.W_dec.dtype))[0, :, feature]
    with steer(model, sae, [Edit(feature, "ablate")], hook, error_term=error_term):
        abl = model(t)
    tgt = t[0, 1:]
    lp_clean = logits[0, :-1].float().log_softmax(-1).gather(-1, tgt[:, None])[:, 0]
    lp_abl = abl[0, :-1].float().log_softmax(-1).gather(-1, tgt[:, None])[:, 0]
    return {
        "feature": feature,
        "activation": acts.tolist(),
        "logp_clean": [None] + lp_clean.tolist(),
        "delta_logp": [None] + (lp_abl - lp_clean).tolist(),
    }


def _corr(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Pearson correlation; None when either side is constant (e.g. the feature is off here)."""
    if float(a.std()) == 0 or float(b.std()) == 0:
        return None
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def _to_residual(model, hook: str) -> tuple[torch.Tensor | None, torch.Tensor | None, str]:
    """(W [d_in, d_model] or None for identity, bias or None, the hook holding the layer's output)."""
    m = re.fullmatch(r"blocks\.(\d+)\.mlp\.hook_post", hook)
    if m:
        lin = model.blocks[int(m.group(1))].mlp.W_out
        return lin.weight.T, lin.bias, f"blocks.{m.group(1)}.hook_mlp_out"
    if re.fullmatch(r"blocks\.\d+\.hook_(mlp_out|attn_out|resid_pre|resid_mid|resid_post)", hook):
        return None, None, hook
    raise MonoscopeError(
        f"contributions need a hook that writes the residual stream linearly (mlp.hook_post, hook_mlp_out, "
        f"hook_attn_out, hook_resid_*), not {hook}"
    )


@torch.no_grad()
def feature_contributions(
    model, sae, tokens: torch.Tensor, feature: int, hook: str | None = None, position: int | None = None, top: int = 10
) -> dict:
    """A feature's contribution to the layer output and (direct path) to each logit at one position.

    `position` defaults to where the feature is most active. The returned `check` holds the largest
    absolute gaps between the sums of terms and the real layer output and logits.
    """
    hook = check_splice(model, sae, hook)
    check_features([feature], sae.d_sae)
    if not all(hasattr(model, a) for a in ("blocks", "ln_final", "W_U")):
        raise MonoscopeError("logit attribution needs the built-in GPT (blocks, ln_final, W_U)")
    W, b, out_hook = _to_residual(model, hook)
    t = tokens.reshape(1, -1)
    last = f"blocks.{len(model.blocks) - 1}.hook_resid_post"
    logits, cache = model.run_with_cache(t, names=[hook, out_hook, last, "ln_final.hook_scale"])
    x = cache[hook][0].to(sae.W_dec.dtype)  # [T, d_in]
    f = sae.encode(x)
    err = x - sae.decode(f)
    lin = (lambda v: v @ W) if W is not None else (lambda v: v)
    T = t.shape[1]
    if position is None:
        position = int(f[1:, feature].argmax()) + 1 if T > 1 else 0
    if not -T <= position < T:
        raise MonoscopeError(f"position {position} is outside the {T}-token example")
    position %= T

    feat_out = lin(f[:, feature : feature + 1] * sae.W_dec[feature])  # [T, d_model]
    all_out = lin(f @ sae.W_dec)
    bias_out = lin(sae.b_dec).expand_as(all_out) + (b if b is not None else 0)
    err_out = lin(err)
    real_out = cache[out_hook][0]
    layer_gap = (all_out + bias_out + err_out - real_out).abs().max()

    scale = cache["ln_final.hook_scale"][0]  # [T, 1], frozen at its clean value
    ln, U = model.ln_final, model.W_U

    def dla(v):  # direct path through the frozen final LayerNorm and the unembedding, no biases
        return ((v - v.mean(-1, keepdim=True)) / scale * ln.w) @ U.weight.T

    other = cache[last][0] - real_out  # everything else in the final residual stream
    const = ln.b @ U.weight.T + U.bias
    feat_logits = dla(feat_out)
    total = dla(all_out) + dla(bias_out) + dla(err_out) + dla(other) + const
    logit_gap = (total - logits[0]).abs().max()

    row = feat_logits[position]
    up, down = row.topk(min(top, row.numel())), (-row).topk(min(top, row.numel()))
    # the total effect on this position's logits through the rest of the model: clean minus ablated
    with steer(model, sae, [Edit(feature, "ablate")], hook):
        abl = model(t)[0, position]
    total_effect = logits[0, position] - abl
    return {
        "feature": feature,
        "hook": hook,
        "layer_output": out_hook,
        "position": position,
        "activation": float(f[position, feature]),
        "layer_output_norm": float(real_out[position].norm()),
        "feature_output_norm": float(feat_out[position].norm()),
        "error_output_norm": float(err_out[position].norm()),
        "top_promoted": [(int(i), float(v)) for v, i in zip(up.values, up.indices)],
        "top_suppressed": [(int(i), -float(v)) for v, i in zip(down.values, down.indices)],
        "direct_logits": row,  # [vocab]
        "total_effect_logits": total_effect,  # [vocab]
        "direct_vs_total_corr": _corr(row, total_effect),
        "check": {"layer_output_max_abs_gap": float(layer_gap), "logits_max_abs_gap": float(logit_gap)},
    }
