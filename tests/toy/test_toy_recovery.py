"""The ground-truth suite: every distribution builds, SAEs fit on it are scored, and bad sizes fail in one line."""

import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.toy import peer
from monoscope.toy.recovery import Problem, RecoveryConfig, fit, run
from monoscope.toy.suite import BY_NAME, SUITE, Distribution
from monoscope.toy.synthetic import SyntheticConfig, SyntheticFeatures, mmcs_scores


def test_relu_with_l0_target_recovers_small_problem():
    torch.set_num_threads(1)
    cfg = RecoveryConfig(d=8, dists=("power0.5",), archs=("relu",), vectors=120_000, batch_size=256, eval_vectors=4096)
    p = Problem(BY_NAME["power0.5"], cfg)
    row = fit("relu", p, progress=False)
    assert row["n_true"] == 64 and row["d_sae"] == 128
    assert row["mmcs"] >= 0.9, row
    assert abs(row["l0"] - p.data.cfg.mean_active) <= 0.1 * p.data.cfg.mean_active, row
    assert 0.0 <= row["dead"] < 1.0


def test_run_writes_rows_and_plot(tmp_path):
    torch.set_num_threads(1)
    archs = ("topk", *(peer.PEERS if peer.available() else ()))
    cfg = RecoveryConfig(d=4, dists=("hierarchical", "dsae<N"), archs=archs, vectors=4096, batch_size=256,
                         eval_vectors=1024)  # fmt: skip
    res = run(cfg, tmp_path, progress=False)
    assert [(r["arch"], r["distribution"]) for r in res["rows"]] == [
        (a, d) for d in ("hierarchical", "dsae<N") for a in archs
    ]
    for r in res["rows"]:
        assert {"arch", "distribution", "mmcs", "recovered", "dead", "fvu"} <= set(r)
        assert 0.0 <= r["recovered"] <= 1.0 and r["fvu"] >= 0.0
    assert (tmp_path / "recovery.png").stat().st_size > 0


def test_every_suite_distribution_builds_at_the_default_width():
    for dist in SUITE:
        scfg, d_sae = dist.build(32)
        assert SyntheticFeatures(scfg).sample(64, 0).shape == (64, 32)
    sizes = {dist.name: dist.build(32) for dist in SUITE}
    assert sizes["N0.5x"][0].n_true == 128 and sizes["N4x"][0].n_true == 1024
    assert sizes["dsae<N"][1] < sizes["dsae<N"][0].n_true
    assert sizes["N4x"][1] == sizes["N4x"][0].n_true < sizes["power0.5"][1] // sizes["power0.5"][0].n_true * 1024


def test_bad_suite_inputs_fail_in_one_line():
    with pytest.raises(MonoscopeError, match="unknown suite distribution 'nope'"):
        RecoveryConfig(dists=("nope",))
    with pytest.raises(MonoscopeError, match="limit of width"):
        RecoveryConfig(d=8192, dists=("power0.5",))
    with pytest.raises(MonoscopeError, match="limit of 65536 true features"):
        RecoveryConfig(d=4000, dists=("N4x",))
    with pytest.raises(MonoscopeError, match="must be >= 2"):
        Distribution("tiny", 0.01, 1.0).build(4)
    # N = 64 features on a power law of exponent 1.1 cannot fire 4 on average: refused with the sizes, before work
    with pytest.raises(MonoscopeError, match="'power1.1' at d=8 .*commonest of n_true=64 features fire with prob"):
        RecoveryConfig(d=8, dists=("power1.1",))


def test_hierarchy_children_fire_only_with_their_parent():
    data = SyntheticFeatures(SyntheticConfig(n_true=64, d=16, mean_active=3.0, children=3))
    on = data.codes(20_000, torch.Generator().manual_seed(0)) > 0
    kids = (data.parent >= 0).nonzero().flatten()
    assert len(kids) == 48
    assert not (on[:, kids] & ~on[:, data.parent[kids]]).any()
    assert on[:, kids].any(0).float().mean() > 0.5  # children do fire


def test_mmcs_scores_and_synthetic_statistics():
    data = SyntheticFeatures(SyntheticConfig(n_true=64, d=16, mean_active=3.0, corr=0.5, group=4))
    assert mmcs_scores(data.directions, data.directions)["mmcs"] > 0.9999
    noise = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))
    assert mmcs_scores(data.directions, noise)["mmcs"] < 0.9
    codes = data.codes(40_000, torch.Generator().manual_seed(0))
    active = (codes > 0).float()
    assert abs(float(active.sum(1).mean()) - 3.0) < 0.15  # mean number of active features
    assert float(active[:, 0].mean()) > 3 * float(active[:, -1].mean())  # power-law frequencies
    same = torch.corrcoef(active[:, :2].T)[0, 1]
    other = torch.corrcoef(active[:, [0, 4]].T)[0, 1]
    assert float(same) > float(other) + 0.05  # features of one group co-fire
