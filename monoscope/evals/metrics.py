"""Reconstruction and downstream metrics of an SAE spliced into its subject model.

Definitions (DESIGN.md): FVU = Σ||x - x̂||² / Σ||x - mean(x)||²; L0 = mean active
latents per token; loss recovered = (CE_zero - CE_spliced) / (CE_zero - CE_clean),
where "zero" zero-ablates the hook (for an MLP hook: the MLP output); the KL
version uses KL(clean‖·) in place of CE - CE_clean. The SAE is spliced by the
one splice (sae/splice.py) without the error term; positions that do not count
(the leading BOS, BOS and separator tokens: data/positions.py) are left
unspliced and uncounted, as the SAE never saw them (SAELens's exclude_special_tokens).
Encoders have no next-token loss: evals/encoder.py measures masked-LM loss recovered
(where there is an MLM head) and the cosine of pooled outputs instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.evals.encoder import EncoderDownstream
from monoscope.models.hook_names import hook_name, parse_hook
from monoscope.models.transformer import lm_loss
from monoscope.sae.splice import check_splice, splice_hooks


@dataclass
class EvalConfig:
    n_contexts: int = 256
    batch_contexts: int = 32
    device: str = "cpu"


def ablation_hook(hook: str) -> str:
    """Which hook to zero for the 'zero-ablated' baseline: the MLP output for any MLP hook."""
    info = parse_hook(hook)
    return hook_name("mlp_out", info.layer) if info.in_mlp else hook


def _kl(logp_ref: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    return (logp_ref.exp() * (logp_ref - logp)).sum(-1)


@torch.no_grad()
def evaluate(
    model,
    sae,
    tokens: torch.Tensor,
    hook: str | None = None,
    cfg: EvalConfig | None = None,
    positions: Positions | int | None = None,
    progress: bool = True,
) -> dict:
    """The metrics above on `tokens` (the first cfg.n_contexts); `positions`: which count (a Dataset's
    `.positions`; a BOS id; None: all but position 0)."""
    cfg = cfg or EvalConfig()
    hook = check_splice(model, sae, hook)
    rule = Positions.of(positions)
    abl = ablation_hook(hook)
    tokens = tokens[: cfg.n_contexts]
    if len(tokens) == 0:
        raise MonoscopeError("no evaluation contexts: the validation split is empty")
    sae = sae.to(cfg.device).eval()
    d_sae = sae.d_sae
    fires = torch.zeros(d_sae, dtype=torch.long)
    n_tok = 0
    s_err = s_x2 = 0.0
    s_xvec = torch.zeros(sae.d_in, dtype=torch.float64)
    l0_sum = 0.0
    ce = {"clean": 0.0, "spliced": 0.0, "zero": 0.0}
    kl = {"spliced": 0.0, "zero": 0.0}
    n_pred = 0
    encoder = None if getattr(model, "causal", True) else EncoderDownstream(model)
    t0 = time.time()
    for i in tqdm(range(0, len(tokens), cfg.batch_contexts), desc="eval", disable=not progress):
        t = tokens[i : i + cfg.batch_contexts].to(cfg.device)
        keep = rule.mask(t)
        seen: dict[str, torch.Tensor] = {}

        def observe(x, f, x_hat, seen=seen):  # what the splice read and wrote: the metrics' x, f and x_hat
            sae.check_input(x, f"activations at {hook}")
            seen.update(x=x, f=f, x_hat=x_hat)

        splice = splice_hooks(sae, hook, rule, error_term=False, observe=observe)
        logits_spliced = model.run_with_hooks(t, fwd_hooks=splice)
        x, f, x_hat = seen["x"], seen["f"], seen["x_hat"]
        xs, fs, xh = x[keep].double(), f[keep], x_hat[keep].double()
        n = xs.shape[0]
        n_tok += n
        s_err += (xs - xh).pow(2).sum().item()
        s_x2 += xs.pow(2).sum().item()
        s_xvec += xs.sum(0).cpu()
        active = fs > 0
        fires += active.sum(0).cpu()
        l0_sum += active.sum().item()
        zero = [(abl, lambda v, hp: torch.zeros_like(v))]
        if encoder is not None:  # no next-token loss: masked-LM loss and output cosine (evals/encoder.py)
            encoder.add(t, keep, splice_hooks(sae, hook, rule, error_term=False), zero)
            continue
        logits_clean = model(t)
        logits_zero = model.run_with_hooks(t, fwd_hooks=zero)
        m = t.shape[0] * (t.shape[1] - 1)
        n_pred += m
        lp_clean = F.log_softmax(logits_clean[:, :-1].float(), -1)
        for name, lg in (("clean", logits_clean), ("spliced", logits_spliced), ("zero", logits_zero)):
            ce[name] += lm_loss(lg, t).item() * m
        kl["spliced"] += _kl(lp_clean, F.log_softmax(logits_spliced[:, :-1].float(), -1)).sum().item()
        kl["zero"] += _kl(lp_clean, F.log_softmax(logits_zero[:, :-1].float(), -1)).sum().item()
    mean = s_xvec / n_tok
    total_var = s_x2 - n_tok * mean.pow(2).sum().item()
    density = fires.double() / n_tok
    r = {
        "hook": hook,
        "ablation_hook": abl,
        "eval_tokens": n_tok,
        "mse": s_err / n_tok,
        "fvu": s_err / total_var if total_var > 0 else float("nan"),
        "explained_variance": 1 - s_err / total_var if total_var > 0 else float("nan"),
        "l0": l0_sum / n_tok,
        "dead_fraction": (fires == 0).double().mean().item(),
        "dead_window_tokens": n_tok,
        "dense_fraction": (density > 0.1).double().mean().item(),
    }
    if encoder is not None:
        return {
            **r,
            **encoder.result(),
            "log10_density": torch.log10(density + 1e-10).tolist(),
            "seconds": round(time.time() - t0, 2),
        }
    ce = {k: v / n_pred for k, v in ce.items()}
    kl = {k: v / n_pred for k, v in kl.items()}
    denom = ce["zero"] - ce["clean"]
    return {
        **r,
        "ce_clean": ce["clean"],
        "ce_spliced": ce["spliced"],
        "ce_zero_ablated": ce["zero"],
        "loss_recovered": (ce["zero"] - ce["spliced"]) / denom if denom > 0 else float("nan"),
        "kl": kl["spliced"],
        "kl_zero_ablated": kl["zero"],
        "kl_recovered": 1 - kl["spliced"] / kl["zero"] if kl["zero"] > 0 else float("nan"),
        "log10_density": torch.log10(density + 1e-10).tolist(),
        "seconds": round(time.time() - t0, 2),
    }


@torch.no_grad()
def dead_over_store(sae, store, n_tokens: int, batch: int = 8192, device: str = "cpu") -> dict:
    """Latents that never fire on the first `n_tokens` harvested vectors of `store` (training tokens, read in
    order): the dead fraction over a stated window larger than the validation split."""
    sae = sae.to(device).eval()
    fires = torch.zeros(sae.d_sae, dtype=torch.long)
    seen = 0
    for s, sh in enumerate(store.meta["shards"]):
        for a in range(0, sh["n"], batch):
            if seen >= n_tokens:
                break
            b = min(sh["n"], a + batch, a + n_tokens - seen)
            x = torch.from_numpy(store.read_block(s, a, b).astype("float32")).to(device)
            fires += (sae.encode(x) > 0).sum(0).cpu()
            seen += b - a
    return {"dead_fraction": (fires == 0).double().mean().item(), "dead_window_tokens": seen}
