"""JumpReLU SAE (Rajamanoharan et al. 2024): f = pre · [pre > θ], with a sparsity penalty.

The step function has no gradient, so θ (kept as log θ) learns through a
straight-through estimator: a rectangle kernel of width `jumprelu_bandwidth`
around the threshold, as in the paper and SAELens. Saved with a `threshold`
tensor in the SAELens layout.

Two penalties (`SAEConfig.jumprelu_sparsity`, SAELens's
jumprelu_sparsity_loss_mode): "step" is the paper's L0, whose gradient reaches
only log θ, through the bandwidth; Adam moves log θ by about lr per step
whatever λ is, so a λ controller (`target_l0`) winds λ up without moving L0
(target 2 on the toy: λ 2.9e8, L0 stuck at 4.18). "tanh" (Anthropic's, the
default) is Σ_i tanh(c · f_i · ‖W_dec,i‖) with c = 4 (SAELens's
jumprelu_tanh_scale): its gradient reaches the pre-activations too, so λ acts
as it does on an L1 (target 2: L0 2.03 at λ 0.73).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from monoscope.errors import MonoscopeError
from monoscope.sae.base import SAE, SAEConfig, SAELoss, register

SPARSITY_MODES = ("tanh", "step")
TANH_SCALE = 4.0  # c in tanh(c · f · ‖W_dec‖): SAELens's jumprelu_tanh_scale


def _rect(z: torch.Tensor) -> torch.Tensor:
    return ((z > -0.5) & (z < 0.5)).to(z.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, threshold, bandwidth: float):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, g):
        pre, th = ctx.saved_tensors
        eps = ctx.bandwidth
        d_pre = (pre > th) * g
        d_th = (-(th / eps) * _rect((pre - th) / eps) * g).reshape(-1, th.shape[0]).sum(0)
        return d_pre, d_th, None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, threshold, bandwidth: float):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):
        pre, th = ctx.saved_tensors
        eps = ctx.bandwidth
        d_th = (-(1.0 / eps) * _rect((pre - th) / eps) * g).reshape(-1, th.shape[0]).sum(0)
        return None, d_th, None


@register("jumprelu")
class JumpReLUSAE(SAE):
    takes_sparsity_coef = True
    reads_saelens = ("jumprelu", "batchtopk")  # SAELens's BatchTopK runs as a JumpReLU at inference

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        self.log_threshold = nn.Parameter(torch.full((cfg.d_sae,), math.log(cfg.jumprelu_init_threshold)))

    @staticmethod
    def validate(cfg: SAEConfig) -> None:
        if cfg.jumprelu_bandwidth <= 0 or cfg.jumprelu_init_threshold <= 0:
            raise MonoscopeError(
                f"jumprelu_bandwidth and jumprelu_init_threshold must be positive, got "
                f"{cfg.jumprelu_bandwidth} and {cfg.jumprelu_init_threshold}"
            )
        if cfg.jumprelu_sparsity not in SPARSITY_MODES:
            raise MonoscopeError(
                f"jumprelu_sparsity must be {' or '.join(SPARSITY_MODES)}, got {cfg.jumprelu_sparsity!r}"
            )

    @property
    def threshold(self) -> torch.Tensor:
        return self.log_threshold.exp()

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return pre * (pre > self.threshold)

    def encode_subset(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        pre = self.pre_subset(x, feats)
        return pre * (pre > self.threshold[feats])

    def loss(self, x, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0, target=None) -> SAELoss:
        pre = self.encode_pre(x)
        th = self.threshold
        bw = float(self.cfg.jumprelu_bandwidth)
        f = _JumpReLU.apply(pre, th, bw)
        x_hat = self.decode(f)
        mse = self.mse(x_hat, x if target is None else target)
        if self.cfg.jumprelu_sparsity == "step":
            sparsity = _Step.apply(pre, th, bw).sum(-1).mean()
        else:
            sparsity = torch.tanh(TANH_SCALE * f * self.W_dec.norm(dim=1)).sum(-1).mean()
        return SAELoss(mse + sparsity_coef * sparsity, mse.detach(), sparsity.detach(), x_hat.detach(), f=f.detach())

    def export(self) -> tuple[str, dict[str, torch.Tensor]]:
        return self.saved_name(), {
            "W_enc": self.W_enc,
            "b_enc": self.b_enc,
            "W_dec": self.W_dec,
            "b_dec": self.b_dec,
            "threshold": self.threshold.detach(),
        }

    def import_tensors(self, t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        t = dict(t)
        if "threshold" in t and "log_threshold" not in t:
            t["log_threshold"] = t.pop("threshold").float().clamp_min(1e-12).log()
        return t

    def saved_shapes(self) -> dict[str, tuple[int, ...]]:
        s = super().saved_shapes()
        s["threshold"] = s.pop("log_threshold")
        return s
