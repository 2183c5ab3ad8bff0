"""TopK SAE (Gao et al. 2024): keep the k largest pre-activations per token; AuxK revives dead latents.

Only the k active latents are touched: the encoder backward and the decoder
run through the sparse kernels in monoscope.sae.kernels.
"""

from __future__ import annotations

import torch

from monoscope.errors import MonoscopeError
from monoscope.sae.base import SAE, SAEConfig, register
from monoscope.sae.kernels import sparse_decode, topk_encode


def check_k(cfg: SAEConfig) -> None:
    if cfg.k is None:
        raise MonoscopeError(f"the {cfg.architecture} architecture needs k (active latents per token), e.g. --k 32")
    if not 0 < int(cfg.k) < int(cfg.d_sae):
        raise MonoscopeError(f"k must satisfy 0 < k < d_sae={cfg.d_sae}, got k={cfg.k}")


@register("topk")
class TopKSAE(SAE):
    @staticmethod
    def validate(cfg: SAEConfig) -> None:
        check_k(cfg)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        v, i = pre.topk(int(self.cfg.k), dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(-1, i, v.relu())

    def loss(
        self, x: torch.Tensor, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0
    ) -> dict[str, torch.Tensor]:
        vals, idx = topk_encode(x, self.W_enc, self.b_enc, self.b_dec, int(self.cfg.k))
        x_hat = sparse_decode(idx, vals, self.W_dec) + self.b_dec
        mse = self.mse(x_hat, x)
        aux = self.auxk_loss(x, (x - x_hat).detach(), dead_mask, aux_coef)
        with torch.no_grad():
            counts = torch.bincount(idx[vals > 0], minlength=self.d_sae)
        return {
            "total": mse + aux,
            "mse": mse,
            "sparsity": (vals > 0).sum(-1).float().mean().detach(),
            "aux_k": aux.detach(),
            "fire_counts": counts,
            "l0": (vals > 0).sum(-1).float().mean().detach(),
            "x_hat": x_hat.detach(),
        }
