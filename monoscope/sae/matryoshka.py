"""Matryoshka BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024): every prefix of the dictionary must
reconstruct alone.

A wide SAE splits a general concept ("inside base64") into many narrow
latents and lets the narrow ones absorb it (feature absorption). Adding the
reconstruction loss of each nested prefix (widths w_1 < ... < d_sae, batch
top-k over the whole dictionary) makes the first latents carry the general
features on their own and the later ones refine them. Inference and the saved
file are BatchTopK's: a JumpReLU with a threshold fitted to the final weights.
"""

from __future__ import annotations

import torch

from monoscope.errors import MonoscopeError
from monoscope.sae.base import SAEConfig, register
from monoscope.sae.batchtopk import BatchTopKSAE
from monoscope.sae.kernels import Ragged, ragged_decode


def matryoshka_widths(cfg: SAEConfig) -> tuple[int, ...]:
    """The nested widths, ending at d_sae; default: d_sae/64, /16, /4, d_sae (those of at least 16 latents)."""
    w = tuple(int(v) for v in cfg.matryoshka_widths) or tuple(
        cfg.d_sae // 4**i for i in (3, 2, 1) if cfg.d_sae // 4**i >= 16
    )
    return w if w and w[-1] == cfg.d_sae else (*w, int(cfg.d_sae))


@register("matryoshka")
class MatryoshkaSAE(BatchTopKSAE):
    @staticmethod
    def validate(cfg: SAEConfig) -> None:
        w = [int(v) for v in cfg.matryoshka_widths]
        if any(v <= 0 for v in w) or any(b <= a for a, b in zip(w, w[1:])) or (w and w[-1] > cfg.d_sae):
            raise MonoscopeError(
                f"matryoshka widths must be positive, strictly increasing and at most d_sae={cfg.d_sae}, got {list(w)}"
            )

    def reconstruction_loss(self, f: Ragged, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        total, lo = y.new_zeros(()), 0
        x_hat = self.b_dec.expand_as(y)
        extra = {}
        for w in matryoshka_widths(self.cfg):
            group = f.with_vals(f.vals * ((f.cols >= lo) & (f.cols < w)))  # the prefix's reconstruction, group by group
            x_hat = x_hat + ragged_decode(group, self.W_dec)
            mse = self.mse(x_hat, y)
            total = total + mse
            if w < self.d_sae:
                extra[f"aux_mse_{w}"] = mse.detach()
            lo = w
        return total, mse, x_hat, extra
