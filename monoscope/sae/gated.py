"""Gated SAE (Rajamanoharan et al. 2024): a gate decides which latents fire, a magnitude path how much.

f = [π_gate > 0] · ReLU(π_mag), π_gate = x̄ W_enc + b_gate, π_mag = x̄ (W_enc ⊙ exp r_mag) + b_mag.
Loss = MSE + λ·Σ ReLU(π_gate)·||W_dec|| + the auxiliary reconstruction from
ReLU(π_gate) through a frozen decoder (so the gate learns to reconstruct).
Saved with SAELens's gated keys (W_enc, b_gate, r_mag, b_mag, W_dec, b_dec).
"""

from __future__ import annotations

import torch
from torch import nn

from monoscope.sae.base import SAE, SAEConfig, SAELoss, register


@register("gated")
class GatedSAE(SAE):
    reads_saelens = ("gated",)
    takes_sparsity_coef = True
    transcodes = False  # its auxiliary loss decodes the gate through the input space

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        del self.b_enc
        self.b_gate = nn.Parameter(torch.zeros(cfg.d_sae))
        self.r_mag = nn.Parameter(torch.zeros(cfg.d_sae))
        self.b_mag = nn.Parameter(torch.zeros(cfg.d_sae))

    def _pre(self, x: torch.Tensor, feats: torch.Tensor | slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
        """(π_gate, π_mag) of latents `feats`: one product with the shared encoder serves both paths."""
        p = (x - self.b_dec).reshape(-1, self.d_in) @ self.W_enc[:, feats]
        return p + self.b_gate[feats], p * self.r_mag[feats].exp() + self.b_mag[feats]

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return self._pre(x)[0].reshape(*x.shape[:-1], self.d_sae)

    def pre_subset(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """The gate's pre-activations of `feats` (the gate decides whether a latent fires)."""
        return self._pre(x, feats)[0]

    def encode_subset(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        gate, mag = self._pre(x, feats)
        return (gate > 0) * mag.relu()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        gate, mag = self._pre(x)
        return ((gate > 0) * mag.relu()).reshape(*x.shape[:-1], self.d_sae)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a gated SAE needs both paths; call encode(x)")

    @torch.no_grad()
    def start_at_l0(self, x: torch.Tensor, l0: float) -> None:
        """The gate decides which latents fire, so its bias carries the shift; the magnitude path's bias takes it
        too, so a latent starts firing near zero as a ReLU does (not at the gate's threshold, an overshoot the
        SAE would first undo by closing latents)."""
        q = self.firing_quantile(self.encode_pre(x), l0)
        self.b_gate.data -= q
        self.b_mag.data -= q

    def loss(self, x, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0, target=None) -> SAELoss:
        y = x if target is None else target
        gate, mag = self._pre(x)
        f = (gate > 0) * mag.relu()
        x_hat = self.decode(f)
        mse = self.mse(x_hat, y)
        g = gate.relu()
        l1 = (g * self.W_dec.norm(dim=1)).sum(-1).mean()
        aux = (torch.addmm(self.b_dec.detach(), g, self.W_dec.detach()) - y).pow(2).sum(-1).mean()
        return SAELoss(
            mse + sparsity_coef * l1 + aux,
            mse.detach(),
            l1.detach(),
            x_hat.detach(),
            f=f.detach(),
            logs={"aux_gate": aux.detach()},
        )
