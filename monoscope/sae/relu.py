"""The seed's SAE (Bricken et al. 2023): f = ReLU(W_enc (x - b_dec) + b_enc), loss = MSE + λ·L1."""

from __future__ import annotations

import torch

from monoscope.sae.base import SAE, SAELoss, register
from monoscope.sae.kernels import relu_sae_loss


@register("relu")
class ReLUSAE(SAE):
    reads_saelens = ("standard",)
    takes_sparsity_coef = True
    uses_resampling = True
    saelens_name = "standard"

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)

    def encode_subset(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        return self.pre_subset(x, feats).relu()

    def loss(self, x, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0, target=None) -> SAELoss:
        # L1 weighted by decoder norms: invariant to moving scale between f and W_dec.
        # One fused forward/backward (monoscope.sae.kernels) instead of autograd's extra passes over [batch, d_sae].
        if target is not None:  # a transcoder: the fused kernel reconstructs its input, so autograd here
            f = self.encode_pre(x).relu()
            y_hat = self.decode(f)
            mse = self.mse(y_hat, target)
            l1 = (f * self.W_dec.norm(dim=1)).sum(-1).mean()
            return SAELoss(mse + sparsity_coef * l1, mse.detach(), l1.detach(), y_hat.detach(), f=f.detach())
        stats: dict = {}
        total, mse, l1, f, x_hat = relu_sae_loss(
            x.reshape(-1, self.d_in), self.W_enc, self.b_enc, self.W_dec, self.b_dec, sparsity_coef, stats
        )
        # the backward fills stats["fired"]; the trainer counts firings from f only on logging steps
        return SAELoss(total, mse, l1, x_hat.reshape(x.shape), f=f, fired_after_backward=lambda: stats["fired"])
