"""The path from the final residual stream to next-token logits: final norm, then the unembedding.

Logit effects, direct logit attribution and loss on a few positions all need
the same three things, for the built-in GPT and for Hugging Face models alike:
the exact logits of a final-residual vector (the model's own modules), the
norm's scale on it, and the norm made linear by freezing that scale
(LayerNorm: centre, divide, multiply; RMSNorm: divide, multiply). A model
without next-token logits over a vocabulary (an encoder) has no Unembed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from monoscope.errors import MonoscopeError


@dataclass
class Unembed:
    hook: str  # the final residual hook whose value the final norm reads
    W_U: torch.Tensor  # [vocab, d_model]
    b_U: torch.Tensor | None  # [vocab]
    centre: bool  # LayerNorm subtracts the mean; RMSNorm does not
    norm_w: torch.Tensor | None  # [d_model] the norm's effective weight (None: ones)
    norm_b: torch.Tensor | None  # [d_model]
    eps: float
    exact: Callable[[torch.Tensor], torch.Tensor]  # final residual -> logits, through the model's own modules

    def logits(self, resid: torch.Tensor) -> torch.Tensor:
        """Logits of final-residual vectors [..., d_model], exactly as the model computes them."""
        return self.exact(resid)

    def scale(self, resid: torch.Tensor) -> torch.Tensor:
        """What the final norm divides by [..., 1]."""
        x = resid - resid.mean(-1, keepdim=True) if self.centre else resid
        return (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()

    def direct(self, v: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
        """The linear part of norm + unembedding with the scale frozen: v [..., d_model] -> [..., vocab], no biases."""
        if self.centre:
            v = v - v.mean(-1, keepdim=True)
        v = v / scale
        if self.norm_w is not None:
            v = v * self.norm_w
        return v @ self.W_U.T

    def constant(self) -> torch.Tensor:
        """The biases' share of every logit [vocab]: norm bias through W_U plus the unembedding bias."""
        c = torch.zeros(self.W_U.shape[0], dtype=self.W_U.dtype, device=self.W_U.device)
        if self.norm_b is not None:
            c = c + self.norm_b @ self.W_U.T
        return c + self.b_U if self.b_U is not None else c


def describe_norm(module: nn.Module) -> tuple[bool, torch.Tensor | None, torch.Tensor | None, float]:
    """(centre, effective weight, bias, eps) of a final-norm module of `transformers`, checked on a random input.

    LayerNorm (with or without parameters) centres; RMSNorm does not; Gemma's RMSNorm multiplies by 1 + weight.
    """
    name = type(module).__name__
    w = getattr(module, "weight", None)
    b = getattr(module, "bias", None)
    eps = getattr(module, "eps", None)
    if eps is None:
        eps = getattr(module, "variance_epsilon", 1e-5)
    if isinstance(module, nn.LayerNorm) or name.endswith("LayerNorm"):
        centre = True
    elif "RMSNorm" in name:
        centre, b = False, None
        if name.startswith("Gemma") and w is not None:
            w = 1.0 + w
    else:
        raise MonoscopeError(
            f"the final norm is a {name}, which monoscope cannot make linear (LayerNorm or RMSNorm expected)"
        )
    d = w.shape[-1] if w is not None else module.normalized_shape[-1]
    x = torch.randn(3, d, generator=torch.Generator().manual_seed(0)).to(w.dtype if w is not None else torch.float32)
    if w is not None:
        x = x.to(w.device)
    with torch.no_grad():
        xc = x - x.mean(-1, keepdim=True) if centre else x
        ours = xc / (xc.pow(2).mean(-1, keepdim=True) + float(eps)).sqrt()
        ours = ours * w if w is not None else ours
        ours = ours + b if b is not None else ours
        if not torch.allclose(ours, module(x), atol=1e-4, rtol=1e-3):
            raise MonoscopeError(f"the final norm {name} does not compute a plain LayerNorm/RMSNorm; cannot unembed")
    return centre, (w.detach() if w is not None else None), (b.detach() if b is not None else None), float(eps)
