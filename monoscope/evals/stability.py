"""Stability of an SAE's features across training seeds and dictionary sizes.

Why: a feature a user builds on should come back when the SAE is trained again.
For two SAEs on one hook, the share of A's latents whose best match in B (the
largest cosine between unit decoder rows) exceeds 0.7 says how many survive a
change of seed; between dictionary sizes, how many of the smaller SAE's
latents the larger one keeps.
"""

from __future__ import annotations

import torch

from monoscope.errors import MonoscopeError

MATCH_THRESHOLD = 0.7


@torch.no_grad()
def best_match(dec_a: torch.Tensor, dec_b: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """For each decoder row of A, the largest cosine with any decoder row of B."""
    if dec_a.shape[1] != dec_b.shape[1]:
        raise MonoscopeError(f"decoders of width {dec_a.shape[1]} and {dec_b.shape[1]}: SAEs on different hooks")
    a = torch.nn.functional.normalize(dec_a.float(), dim=1)
    b = torch.nn.functional.normalize(dec_b.float(), dim=1)
    return torch.cat([(a[s : s + chunk] @ b.T).max(dim=1).values for s in range(0, len(a), chunk)])


def stability(sae_a, sae_b, threshold: float = MATCH_THRESHOLD) -> dict:
    """Share of latents with a match above `threshold`, each way, and the median best-match cosine."""
    ab = best_match(sae_a.W_dec.detach().cpu(), sae_b.W_dec.detach().cpu())
    ba = best_match(sae_b.W_dec.detach().cpu(), sae_a.W_dec.detach().cpu())
    return {
        "threshold": threshold,
        "d_sae_a": int(len(ab)),
        "d_sae_b": int(len(ba)),
        "share_matched_a_in_b": float((ab > threshold).float().mean()),
        "share_matched_b_in_a": float((ba > threshold).float().mean()),
        "median_best_cos_a_in_b": float(ab.median()),
        "median_best_cos_b_in_a": float(ba.median()),
        "best_cos_a_in_b": ab.tolist(),
    }
