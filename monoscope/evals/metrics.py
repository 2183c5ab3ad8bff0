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


def _next_token_logp(logits: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of positions that predict a next token (all but the last), in fp32."""
    return F.log_softmax(logits[:, :-1].float(), -1)


def _ce_sum(logp: torch.Tensor, tokens: torch.Tensor) -> float:
    """Summed next-token cross-entropy from `_next_token_logp` (the same number as lm_loss × predictions)."""
    return -logp.gather(-1, tokens[:, 1:, None]).sum().item()


class _Sums:
    """One SAE's running sums over the evaluation batches."""

    def __init__(self, sae):
        self.fires = torch.zeros(sae.d_sae, dtype=torch.long)
        self.n_tok, self.s_err, self.s_x2, self.l0 = 0, 0.0, 0.0, 0.0
        self.s_xvec = torch.zeros(sae.d_in, dtype=torch.float64)
        self.ce, self.kl = 0.0, 0.0

    def add(self, x, f, x_hat, keep) -> None:
        xs, fs, xh = x[keep].double(), f[keep], x_hat[keep].double()
        self.n_tok += xs.shape[0]
        self.s_err += (xs - xh).pow(2).sum().item()
        self.s_x2 += xs.pow(2).sum().item()
        self.s_xvec += xs.sum(0).cpu()
        active = fs > 0
        self.fires += active.sum(0).cpu()
        self.l0 += active.sum().item()

    def result(self, hook: str, abl: str) -> dict:
        n = self.n_tok
        mean = self.s_xvec / n
        total_var = self.s_x2 - n * mean.pow(2).sum().item()
        density = self.fires.double() / n
        return {
            "hook": hook,
            "ablation_hook": abl,
            "eval_tokens": n,
            "mse": self.s_err / n,
            "fvu": self.s_err / total_var if total_var > 0 else float("nan"),
            "explained_variance": 1 - self.s_err / total_var if total_var > 0 else float("nan"),
            "l0": self.l0 / n,
            "dead_fraction": (self.fires == 0).double().mean().item(),
            "dead_window_tokens": n,
            "dense_fraction": (density > 0.1).double().mean().item(),
            "log10_density": torch.log10(density + 1e-10).tolist(),
        }


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
    return evaluate_many(model, [sae], tokens, hook, cfg, positions, progress)[0]


@torch.no_grad()
def evaluate_many(
    model,
    saes: list,
    tokens: torch.Tensor,
    hook: str | None = None,
    cfg: EvalConfig | None = None,
    positions: Positions | int | None = None,
    progress: bool = True,
) -> list[dict]:
    """`evaluate` for several SAEs of one hook on the same tokens: the clean and zero-ablated passes, which do
    not depend on the SAE, run once per batch for all of them."""
    cfg = cfg or EvalConfig()
    hooks = {check_splice(model, sae, hook) for sae in saes}
    if len(hooks) != 1:
        raise MonoscopeError(f"evaluate_many needs SAEs of one hook, got {sorted(hooks)}")
    hook = hooks.pop()
    rule = Positions.of(positions)
    abl = ablation_hook(hook)
    tokens = tokens[: cfg.n_contexts]
    if len(tokens) == 0:
        raise MonoscopeError("no evaluation contexts: the validation split is empty")
    saes = [sae.to(cfg.device).eval() for sae in saes]
    sums = [_Sums(sae) for sae in saes]
    ce_clean = ce_zero = kl_zero = 0.0
    n_pred = 0
    encoder = None if getattr(model, "causal", True) else [EncoderDownstream(model) for _ in saes]
    zero = [(abl, lambda v, hp: torch.zeros_like(v))]
    t0 = time.time()
    for i in tqdm(range(0, len(tokens), cfg.batch_contexts), desc="eval", disable=not progress):
        t = tokens[i : i + cfg.batch_contexts].to(cfg.device)
        keep = rule.mask(t)
        if encoder is None:
            lp_clean = _next_token_logp(model(t))
            p_clean = lp_clean.exp()
            lp_zero = _next_token_logp(model.run_with_hooks(t, fwd_hooks=zero))
            n_pred += t.shape[0] * (t.shape[1] - 1)
            ce_clean += _ce_sum(lp_clean, t)
            ce_zero += _ce_sum(lp_zero, t)
            kl_zero += (p_clean * (lp_clean - lp_zero)).sum().item()
        for j, (sae, acc) in enumerate(zip(saes, sums)):
            seen: dict[str, torch.Tensor] = {}

            def observe(x, f, x_hat, seen=seen, sae=sae):  # what the splice read and wrote: x, f and x_hat
                sae.check_input(x, f"activations at {hook}")
                seen.update(x=x, f=f, x_hat=x_hat)

            logits = model.run_with_hooks(t, fwd_hooks=splice_hooks(sae, hook, rule, error_term=False, observe=observe))
            acc.add(seen["x"], seen["f"], seen["x_hat"], keep)
            if encoder is not None:  # no next-token loss: masked-LM loss and output cosine (evals/encoder.py)
                encoder[j].add(t, keep, splice_hooks(sae, hook, rule, error_term=False), zero)
                continue
            lp = _next_token_logp(logits)
            acc.ce += _ce_sum(lp, t)
            acc.kl += (p_clean * (lp_clean - lp)).sum().item()
    secs = round(time.time() - t0, 2)
    out = []
    for j, acc in enumerate(sums):
        r = acc.result(hook, abl)
        if encoder is not None:
            out.append({**r, **encoder[j].result(), "seconds": secs})
            continue
        ce = {"clean": ce_clean / n_pred, "spliced": acc.ce / n_pred, "zero": ce_zero / n_pred}
        kl, klz = acc.kl / n_pred, kl_zero / n_pred
        denom = ce["zero"] - ce["clean"]
        out.append(
            {
                **r,
                "ce_clean": ce["clean"],
                "ce_spliced": ce["spliced"],
                "ce_zero_ablated": ce["zero"],
                "loss_recovered": (ce["zero"] - ce["spliced"]) / denom if denom > 0 else float("nan"),
                "kl": kl,
                "kl_zero_ablated": klz,
                "kl_recovered": 1 - kl / klz if klz > 0 else float("nan"),
                "seconds": secs,
            }
        )
    return out
