import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.sae import SAEConfig, TrainConfig
from monoscope.sae.trainer import SAETrainer


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
