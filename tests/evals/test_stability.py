"""Stability: a permuted, slightly perturbed copy matches; independent random dictionaries do not; widths differ."""

from __future__ import annotations

import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.evals.stability import stability
from monoscope.sae import SAEConfig, make_sae


def _sae(d_in, d_sae, seed):
    torch.manual_seed(seed)
    return make_sae(SAEConfig("relu", d_in, d_sae))


def test_permuted_copy_is_stable_and_random_is_not():
    a = _sae(64, 256, 0)
    b = _sae(64, 256, 1)
    other = stability(a, b)
    assert other["share_matched_a_in_b"] < 0.05
    with torch.no_grad():
        b.W_dec.copy_(a.W_dec[torch.randperm(256)] + 0.01 * torch.randn(256, 64))
    same = stability(a, b)
    assert same["share_matched_a_in_b"] == 1.0 and same["share_matched_b_in_a"] == 1.0


def test_across_sizes_half_kept():
    small = _sae(32, 64, 0)
    large = _sae(32, 128, 1)
    with torch.no_grad():
        large.W_dec[:32] = small.W_dec[:32]  # the large SAE keeps half of the small one's directions
    res = stability(small, large)
    assert res["d_sae_a"] == 64 and res["d_sae_b"] == 128
    assert 0.45 <= res["share_matched_a_in_b"] <= 0.6
    assert res["share_matched_b_in_a"] < res["share_matched_a_in_b"]


def test_different_widths_refused():
    with pytest.raises(MonoscopeError, match="different hooks"):
        stability(_sae(16, 32, 0), _sae(24, 32, 0))
