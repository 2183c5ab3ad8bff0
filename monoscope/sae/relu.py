"""The seed's SAE (Bricken et al. 2023): f = ReLU(W_enc (x - b_dec) + b_enc), loss = MSE + λ·L1."""
from __future__ import annotations

import torch

from monoscope.sae.base import SAE, SAEConfig, register


@register("relu")
class ReLUSAE(SAE):
    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)

    def loss(self, x: torch.Tensor, sparsity_coef: float = 0.0, dead_mask=None) -> dict[str, torch.Tensor]:
        f = self.encode(x)
        x_hat = self.decode(f)
        mse = self.mse(x_hat, x)
        # L1 weighted by decoder norms: invariant to moving scale between f and W_dec.
        l1 = (f * self.W_dec.norm(dim=1)).sum(-1).mean()
        return {"total": mse + sparsity_coef * l1, "mse": mse, "sparsity": l1, "f": f, "x_hat": x_hat}
