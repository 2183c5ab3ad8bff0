"""TrainConfig: dead_report over its window; target_l0 reached by adapting λ (ReLU, JumpReLU), impossible targets
one line; JumpReLU's sparsity penalty checked and stamped as older runs were."""

import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.sae import SAEConfig, SAETrainer, TrainConfig
from monoscope.sae.trainer import stage_config
from monoscope.toy.synthetic import SyntheticConfig, SyntheticFeatures


def test_dead_report_counts_latents_silent_over_the_last_window():
    cfg = TrainConfig(SAEConfig("topk", 8, 4, k=1), total_vectors=1000, batch_size=100, dead_report_window=300)
    t = SAETrainer(cfg)
    for _ in range(5):
        x = torch.randn(100, 8)
        t.step(x)
    assert t.dead_report()["dead_window_vectors"] == 300
    t.since_fired = torch.tensor([0, 299, 300, 500])  # the last two did not fire over the last 300 vectors
    assert t.dead_report() == {"dead_fraction": 0.5, "dead_window_vectors": 300}
    short = SAETrainer(TrainConfig(SAEConfig("topk", 8, 4, k=1), total_vectors=1000, batch_size=100))
    short.step(torch.randn(100, 8))
    assert short.dead_report()["dead_window_vectors"] == 100  # fewer trained than the window: all of them


def test_dead_report_window_must_be_positive():
    with pytest.raises(MonoscopeError, match="dead_report_window must be a positive"):
        TrainConfig(SAEConfig("topk", 8, 4, k=1), dead_report_window=0)


@pytest.mark.parametrize("target", [0, -1.0, 129])
def test_target_l0_outside_zero_to_d_sae_is_refused(target):
    with pytest.raises(MonoscopeError, match="target L0 must satisfy 0 < target <= d_sae=128"):
        TrainConfig(sae=SAEConfig(architecture="relu", d_in=16, d_sae=128), target_l0=target)


def test_target_l0_is_refused_for_the_topk_family():
    with pytest.raises(MonoscopeError, match="sets its L0 with k"):
        TrainConfig(sae=SAEConfig(architecture="topk", d_in=16, d_sae=128, k=4), target_l0=4)


@pytest.mark.parametrize("arch", ["relu", "jumprelu"])
def test_the_l0_target_is_reached(arch):
    # a target below the data's own 3 active features: λ must rise. (Above it λ falls towards 0 and L0 stalls
    # where reconstruction needs no more latents: 5.9 for a target of 8 with ReLU here.) JumpReLU's "step" penalty
    # stalls at L0 4.18 here with λ wound up to 2.9e8: its default "tanh" penalty reaches 2.03.
    torch.set_num_threads(1)
    data = SyntheticFeatures(SyntheticConfig(n_true=64, d=16, mean_active=3.0))
    cfg = TrainConfig(sae=SAEConfig(architecture=arch, d_in=16, d_sae=128), total_vectors=100_000, batch_size=256,
                      target_l0=2.0)  # fmt: skip
    tr = SAETrainer(cfg, sample_fn=data.sample)
    gen = torch.Generator().manual_seed(3)
    for _ in range(cfg.steps):
        tr.step(data.vectors(256, gen))
    x = data.sample(8192, 99)
    l0 = float((tr.sae.eval().encode(x) != 0).sum(1).float().mean())
    assert abs(l0 - 2.0) <= 0.2, l0


def test_jumprelu_sparsity_is_tanh_or_step():
    with pytest.raises(MonoscopeError, match="jumprelu_sparsity must be tanh or step, got 'l1'"):
        SAEConfig(architecture="jumprelu", d_in=16, d_sae=128, jumprelu_sparsity="l1")


def test_stamps_made_before_jumprelu_sparsity_still_match():
    # a stamp without the field is a JumpReLU trained with "step" (or another architecture): those configs stamp
    # as before, so their run folders are reused; the new default "tanh" is a different run
    def stamp(arch, **kw):
        return stage_config(TrainConfig(sae=SAEConfig(architecture=arch, d_in=16, d_sae=128, **kw)))["sae"]

    assert "jumprelu_sparsity" not in stamp("jumprelu", jumprelu_sparsity="step")
    assert "jumprelu_sparsity" not in stamp("relu")
    assert stamp("jumprelu")["jumprelu_sparsity"] == "tanh"
