"""TopK SAE (Gao et al. 2024): keep the k largest pre-activations per token; AuxK revives dead latents.

Only the k active latents are touched: the encoder backward and the decoder
run through the sparse kernels in monoscope.sae.kernels.
"""

from __future__ import annotations

import torch

from monoscope.sae.base import SAE, SAELoss, register
from monoscope.sae.kernels import sparse_decode, topk_encode


@register("topk")
class TopKSAE(SAE):
    reads_saelens = ("topk",)
    needs_k = True

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        v, i = pre.topk(int(self.cfg.k), dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(-1, i, v.relu())

    def saelens_cfg(self) -> dict:
        return {"k": int(self.cfg.k), "rescale_acts_by_decoder_norm": False}

    def loss(self, x, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0, target=None) -> SAELoss:
        y = x if target is None else target
        vals, idx = topk_encode(x, self.W_enc, self.b_enc, self.b_in, int(self.cfg.k))
        x_hat = sparse_decode(idx, vals, self.W_dec) + self.b_dec
        mse = self.mse(x_hat, y)
        aux = self.auxk_loss(x, (y - x_hat).detach(), dead_mask, aux_coef)
        with torch.no_grad():
            active = vals > 0
            counts = torch.bincount(idx[active], minlength=self.d_sae)
        return SAELoss(
            mse + aux,
            mse.detach(),
            active.sum(-1).float().mean(),
            x_hat.detach(),
            counts=counts,
            logs={"aux_k": aux.detach()},
        )
