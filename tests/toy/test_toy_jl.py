"""Almost-orthogonal packings: more than d vectors fit, and optimisation beats random."""

import torch

from monoscope.toy.jl import greedy_random, jl_bound, optimise_packing


def test_more_than_d_almost_orthogonal_vectors():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    d, eps = 16, 0.3
    g = greedy_random(d, eps, patience=500, max_vectors=2000, gen=gen)
    assert g > d
    assert optimise_packing(g, d, eps, steps=300, gen=gen) <= eps
    assert jl_bound(2 * d, eps) > jl_bound(d, eps)


def test_packing_impossible_beyond_limit():
    # Three unit vectors in the plane cannot all have |cos| <= 0.3 (the best is 0.5).
    assert optimise_packing(3, 2, 0.3, steps=300, gen=torch.Generator().manual_seed(0)) > 0.45
