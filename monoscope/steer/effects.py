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

import torch

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.sae.splice import check_splice
from monoscope.steer.edits import Edit, check_features
from monoscope.steer.splice import steer


@torch.no_grad()
def ablation_effects(
    model,
    sae,
    tokens: torch.Tensor,
    feature: int,
    hook: str | None = None,
    error_term: bool = True,
    positions: Positions | int | None = None,
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
    with steer(model, sae, [Edit(feature, "ablate")], hook, error_term=error_term, positions=positions):
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


@torch.no_grad()
def feature_contributions(
    model,
    sae,
    tokens: torch.Tensor,
    feature: int,
    hook: str | None = None,
    position: int | None = None,
    top: int = 10,
    positions: Positions | int | None = None,
) -> dict:
    """A feature's contribution to the layer output and (direct path) to each logit at one position.

    `position` defaults to where the feature is most active. The returned `check` holds the largest
    absolute gaps between the sums of terms and the real layer output and logits.
    """
    hook = check_splice(model, sae, hook)
    check_features([feature], sae.d_sae)
    u = model.unembed
    if u is None:
        raise MonoscopeError(
            f"logit attribution needs next-token logits over a vocabulary; {type(model).__name__} "
            f"({getattr(model.cfg, 'architecture', 'model')}) has no unembedding"
        )
    path = model.residual_path(hook)
    if path is None:
        raise MonoscopeError(
            f"contributions need a hook that writes the residual stream linearly (mlp.hook_post, hook_mlp_out, "
            f"hook_attn_out, hook_resid_*, hook_embed), not {hook}"
        )
    out_hook, b, lin = path.out, path.b, path.apply
    t = tokens.reshape(1, -1)
    last = u.hook
    logits, cache = model.run_with_cache(t, names=[hook, out_hook, last])
    x = cache[hook][0].to(sae.W_dec.dtype)  # [T, d_in]
    f = sae.encode(x)
    err = x - sae.decode(f)
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

    scale = u.scale(cache[last][0])  # [T, 1], frozen at its clean value

    def dla(v):  # direct path through the frozen final norm and the unembedding, no biases
        return u.direct(v, scale)

    other = cache[last][0] - real_out  # everything else in the final residual stream
    const = u.constant()
    feat_logits = dla(feat_out)
    total = dla(all_out) + dla(bias_out) + dla(err_out) + dla(other) + const
    logit_gap = (total - logits[0]).abs().max()

    row = feat_logits[position]
    up, down = row.topk(min(top, row.numel())), (-row).topk(min(top, row.numel()))
    # the total effect on this position's logits through the rest of the model: clean minus ablated
    with steer(model, sae, [Edit(feature, "ablate")], hook, positions=positions):
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
