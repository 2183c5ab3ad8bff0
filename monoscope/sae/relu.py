"""The seed's SAE (Bricken et al. 2023): f = ReLU(W_enc (x - b_dec) + b_enc), loss = MSE + λ·L1."""

from __future__ import annotations

import torch

from monoscope.sae.base import SAE, register
from monoscope.sae.kernels import relu_sae_loss


@register("relu")
class ReLUSAE(SAE):
    uses_resampling = True

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)

    def loss(
        self, x: torch.Tensor, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0
    ) -> dict[str, torch.Tensor]:
        # L1 weighted by decoder norms: invariant to moving scale between f and W_dec.
        # One fused forward/backward (monoscope.sae.kernels) instead of autograd's extra passes over [batch, d_sae].
        stats: dict = {}
        total, mse, l1, f, x_hat = relu_sae_loss(
            x.reshape(-1, self.d_in), self.W_enc, self.b_enc, self.W_dec, self.b_dec, sparsity_coef, stats
        )
        # `stats["fired"]` is filled in by the backward; the trainer counts firings from f only on logging steps
        return {"total": total, "mse": mse, "sparsity": l1, "f": f, "x_hat": x_hat.reshape(x.shape), "stats": stats}
