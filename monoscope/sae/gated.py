"""Gated SAE (Rajamanoharan et al. 2024): a gate decides which latents fire, a magnitude path how much.

f = [π_gate > 0] · ReLU(π_mag), π_gate = x̄ W_enc + b_gate, π_mag = x̄ (W_enc ⊙ exp r_mag) + b_mag.
Loss = MSE + λ·Σ ReLU(π_gate)·||W_dec|| + the auxiliary reconstruction from
ReLU(π_gate) through a frozen decoder (so the gate learns to reconstruct).
Saved with SAELens's gated keys (W_enc, b_gate, r_mag, b_mag, W_dec, b_dec).
"""

from __future__ import annotations

import torch
from torch import nn

from monoscope.sae.base import SAE, SAEConfig, register


@register("gated")
class GatedSAE(SAE):
    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        del self.b_enc
        self.b_gate = nn.Parameter(torch.zeros(cfg.d_sae))
        self.r_mag = nn.Parameter(torch.zeros(cfg.d_sae))
        self.b_mag = nn.Parameter(torch.zeros(cfg.d_sae))

    def _pre(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xc = (x - self.b_dec).reshape(-1, self.d_in)
        gate = torch.addmm(self.b_gate, xc, self.W_enc)
        mag = (xc @ self.W_enc) * self.r_mag.exp() + self.b_mag
        return gate, mag

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return self._pre(x)[0].reshape(*x.shape[:-1], self.d_sae)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        gate, mag = self._pre(x)
        return ((gate > 0) * mag.relu()).reshape(*x.shape[:-1], self.d_sae)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a gated SAE needs both paths; call encode(x)")

    def loss(
        self, x: torch.Tensor, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0
    ) -> dict[str, torch.Tensor]:
        gate, mag = self._pre(x)
        f = (gate > 0) * mag.relu()
        x_hat = self.decode(f)
        mse = self.mse(x_hat, x)
        g = gate.relu()
        l1 = (g * self.W_dec.norm(dim=1)).sum(-1).mean()
        aux = (torch.addmm(self.b_dec.detach(), g, self.W_dec.detach()) - x).pow(2).sum(-1).mean()
        return {
            "total": mse + sparsity_coef * l1 + aux,
            "mse": mse,
            "sparsity": l1.detach(),
            "aux_gate": aux.detach(),
            "f": f.detach(),
            "x_hat": x_hat.detach(),
        }
