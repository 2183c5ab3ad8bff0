"""Downstream measures of an SAE spliced into an encoder (BERT, RoBERTa), where next-token loss is undefined.

Two measures, each clean vs spliced vs zero-ablated (the same splice and ablation as for causal models):

- masked-LM loss recovered, where the model has an MLM head (its forward gives vocabulary logits and its tokenizer
  a mask token): 15% of the counted positions (a fixed seed) are replaced by the mask token and the model's
  cross-entropy on the original tokens there is measured; recovered = (CE_zero - CE_spliced) / (CE_zero - CE_clean);
- output cosine, for every encoder: the final hidden states (the last block's residual stream), mean-pooled over
  the counted positions, clean vs spliced; recovered = 1 - (1 - cos_spliced) / (1 - cos_zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_FRACTION = 0.15


def mask_token_id(model) -> int | None:
    tok = getattr(model, "tokenizer", None)
    return getattr(tok, "mask_token_id", None) if tok is not None else None


class EncoderDownstream:
    """Accumulates both measures over batches; `result()` gives the eval keys."""

    def __init__(self, model, seed: int = 0):
        self.model, self.final = model, model.final_resid_hook
        self.mask_id = mask_token_id(model)
        self.gen = torch.Generator().manual_seed(seed)
        self.cos = {"spliced": 0.0, "zero": 0.0}
        self.n_ctx = 0
        self.ce = {"clean": 0.0, "spliced": 0.0, "zero": 0.0}
        self.n_masked = 0
        self.mlm: bool | None = None

    def _run(self, t: torch.Tensor, hooks) -> tuple[torch.Tensor, torch.Tensor]:
        out, cache = self.model.run_with_cache(t, names=[self.final], fwd_hooks=hooks)
        return out, cache[self.final]

    @staticmethod
    def _pool(h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        w = keep.to(h.dtype)[..., None]
        return (h.float() * w).sum(1) / w.sum(1).clamp_min(1)

    def add(self, t: torch.Tensor, keep: torch.Tensor, splice, zero) -> None:
        """`splice`/`zero`: forward hooks that splice the SAE in / zero-ablate; `keep`: the counted positions."""
        out, h_clean = self._run(t, [])
        _, h_spliced = self._run(t, splice)
        _, h_zero = self._run(t, zero)
        p = self._pool(h_clean, keep)
        for name, h in (("spliced", h_spliced), ("zero", h_zero)):
            self.cos[name] += F.cosine_similarity(p, self._pool(h, keep), dim=-1).sum().item()
        self.n_ctx += len(t)
        if self.mlm is None:
            self.mlm = self.mask_id is not None and out.shape[-1] == self.model.cfg.vocab_size
        if not self.mlm:
            return
        chosen = keep & (torch.rand(keep.shape, generator=self.gen) < MASK_FRACTION).to(keep.device)
        if not chosen.any():
            return
        masked = torch.where(chosen, torch.full_like(t, self.mask_id), t)
        for name, hooks in (("clean", []), ("spliced", splice), ("zero", zero)):
            logits = self.model.run_with_hooks(masked, fwd_hooks=hooks)
            self.ce[name] += F.cross_entropy(logits[chosen].float(), t[chosen], reduction="sum").item()
        self.n_masked += int(chosen.sum())

    def result(self) -> dict:
        cos = {k: v / max(self.n_ctx, 1) for k, v in self.cos.items()}
        r = {
            "downstream": "masked_lm" if self.mlm and self.n_masked else "output_cosine",
            "output_cosine": cos["spliced"],
            "output_cosine_zero_ablated": cos["zero"],
            "cosine_recovered": 1 - (1 - cos["spliced"]) / (1 - cos["zero"]) if cos["zero"] < 1 else float("nan"),
        }
        if self.mlm and self.n_masked:
            ce = {k: v / self.n_masked for k, v in self.ce.items()}
            denom = ce["zero"] - ce["clean"]
            r |= {
                "masked_tokens": self.n_masked,
                "mlm_ce_clean": ce["clean"],
                "mlm_ce_spliced": ce["spliced"],
                "mlm_ce_zero_ablated": ce["zero"],
                "loss_recovered": (ce["zero"] - ce["spliced"]) / denom if denom > 0 else float("nan"),
            }
        return r
