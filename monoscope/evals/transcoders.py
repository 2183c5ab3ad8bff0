"""How well transcoders stand in for their MLPs: per layer FVU of the MLP output, L0 and dead latents, and the loss
recovered with every MLP replaced by its transcoder at once.

Loss recovered = (CE_zero - CE_replaced) / (CE_zero - CE_clean) as for an SAE (evals/metrics.py), with "zero"
zero-ablating every replaced MLP's output and "replaced" running each MLP's transcoder on the (replaced model's
own) MLP input: errors compound through the layers, as in circuit-tracer's replacement model. Positions that do not
count (data/positions.py) keep their MLP outputs and are not scored.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.models.transformer import lm_loss
from monoscope.sae.splice import check_transcoder, transcoder_hooks


@torch.no_grad()
def evaluate_transcoders(
    model,
    transcoders,
    tokens: torch.Tensor,
    positions: Positions | int | None = None,
    batch_contexts: int = 32,
    progress: bool = True,
) -> dict:
    """The metrics above on `tokens` [n, T]; `transcoders`: one per replaced layer (any order)."""
    if len(tokens) == 0:
        raise MonoscopeError("no evaluation contexts: the validation split is empty")
    ends = [check_transcoder(model, tc) for tc in transcoders]
    rule = Positions.of(positions)
    n = len(transcoders)
    err = [0.0] * n
    sq = [0.0] * n
    s_vec = [torch.zeros(tc.d_out, dtype=torch.float64) for tc in transcoders]
    l0 = [0.0] * n
    fires = [torch.zeros(tc.d_sae, dtype=torch.long) for tc in transcoders]
    n_tok = 0
    ce = {"clean": 0.0, "replaced": 0.0, "zero": 0.0}
    n_pred = 0
    for i in tqdm(range(0, len(tokens), batch_contexts), desc="eval transcoders", disable=not progress):
        t = tokens[i : i + batch_contexts]
        keep = rule.mask(t)
        n_tok += int(keep.sum())

        def observe(j, x, f, y, y_hat, keep=keep):
            yk, hk, fk = y[keep].double(), y_hat[keep].double(), f[keep]
            err[j] += (yk - hk).pow(2).sum().item()
            sq[j] += yk.pow(2).sum().item()
            s_vec[j] += yk.sum(0)
            l0[j] += (fk > 0).sum().item()
            fires[j] += (fk > 0).sum(0)

        replaced = model.run_with_hooks(t, fwd_hooks=transcoder_hooks(transcoders, rule, observe))
        zero = [(out, lambda v, hp: torch.zeros_like(v)) for _, out in ends]
        m = t.shape[0] * (t.shape[1] - 1)
        n_pred += m
        for name, lg in (("clean", model(t)), ("replaced", replaced), ("zero", model.run_with_hooks(t, zero))):
            ce[name] += lm_loss(lg, t).item() * m
    ce = {k: v / n_pred for k, v in ce.items()}
    layers = []
    for j, (inp, out) in enumerate(ends):
        var = sq[j] - n_tok * (s_vec[j] / n_tok).pow(2).sum().item()
        layers.append(
            {
                "hook_in": inp,
                "hook_out": out,
                "fvu": err[j] / var if var > 0 else float("nan"),
                "l0": l0[j] / n_tok,
                "dead_fraction": (fires[j] == 0).double().mean().item(),
            }
        )
    denom = ce["zero"] - ce["clean"]
    return {
        "layers": layers,
        "eval_tokens": n_tok,
        "ce_clean": ce["clean"],
        "ce_replaced": ce["replaced"],
        "ce_zero_ablated": ce["zero"],
        "loss_recovered": (ce["zero"] - ce["replaced"]) / denom if denom > 0 else float("nan"),
    }
