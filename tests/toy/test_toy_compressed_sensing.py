"""Basis pursuit succeeds well below the Donoho–Tanner curve and fails well above it."""

import numpy as np
import torch

from monoscope.toy.compressed_sensing import l1_success, relu_decoder, rho_threshold


def test_weak_threshold_matches_donoho_tanner():
    # Published value of the signed (cross-polytope) weak threshold (Donoho & Tanner): rho_W(0.5) ≈ 0.384.
    assert abs(rho_threshold(0.5) - 0.384) < 0.01
    assert rho_threshold(0.5, nonnegative=True) > rho_threshold(0.5)  # positivity helps


def test_l1_phase_transition():
    rng = np.random.default_rng(0)
    n, delta = 80, 0.5
    m = int(delta * n)
    rho_w = rho_threshold(delta)
    below = l1_success(n, m, max(1, round(0.5 * rho_w * m)), trials=10, tol=1e-3, rng=rng)
    above = l1_success(n, m, round(min(1.0, 1.8 * rho_w) * m), trials=10, tol=1e-3, rng=rng)
    assert below >= 0.9
    assert above <= 0.1


def test_relu_decoder_needs_sparsity():
    torch.set_num_threads(1)
    succ, rel = relu_decoder(
        64, [32, 32], [1, 24], steps=400, batch=128, tol=0.3, gen=torch.Generator().manual_seed(0), progress=False
    )
    assert rel[0] < rel[1]
    assert succ[0] > succ[1]
