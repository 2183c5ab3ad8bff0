"""Data-parallel SAE training: 2 gloo ranks under torchrun equal one process fed the same global batches.

Tolerance: max |difference| of every saved weight <= 1e-4 (float32; the two runs differ only in
the order gradients are summed).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from monoscope.activations.store import write_store
from monoscope.sae import SAEConfig, SAETrainer, TrainConfig, load_sae
from monoscope.sae.distributed import local_batch_size, rank_shards

TOL = 1e-4
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def _store(folder: Path):
    g = np.random.default_rng(0)
    dictionary = g.standard_normal((48, 16)).astype(np.float32)

    def batches():
        for _ in range(4):
            codes = g.random((1000, 48)) * (g.random((1000, 48)) < 0.08)
            yield (codes @ dictionary).astype(np.float32)

    return write_store(folder, batches(), hook="blocks.0.hook_resid_post", shard_size=1000)


def _cli(store, out, extra=()):
    return [
        "-m",
        "monoscope",
        "train-sae",
        "--acts",
        str(store.folder),
        "--out",
        str(out),
        "--d-sae",
        "32",
        "--vectors",
        "2560",
        "--batch-size",
        "64",
        "--lr",
        "0.003",
        "--l1",
        "5",
        "--checkpoint-every",
        "0",
        "--quiet",
        "--distributed",
        *extra,
    ]


def test_two_ranks_match_one_process(tmp_path):
    store = _store(tmp_path / "acts")
    out = tmp_path / "ddp"
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *_cli(store, out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    ddp = load_sae(out)
    # the same run in one process: the global batch is rank 0's batch followed by rank 1's
    cfg = TrainConfig(
        sae=SAEConfig("relu", 16, 32),
        total_vectors=2560,
        batch_size=64,
        lr=0.003,
        sparsity_coef=5.0,
        checkpoint_every=0,
        seed=0,
    )
    scale = store.norm_scale
    trainer = SAETrainer(cfg, sample_fn=lambda n, s: store.sample(n, s) * scale)
    views = [store.select_shards(rank_shards(4, r, 2)).iter_batches(32, seed=r) for r in range(2)]
    for _ in range(cfg.steps):
        trainer.step(torch.cat([next(v) for v in views]) * scale)
    ref = trainer.sae
    ref.fold_input_scale(scale)
    diffs = {k: (getattr(ddp, k) - getattr(ref, k)).abs().max().item() for k in ("W_enc", "b_enc", "W_dec", "b_dec")}
    print("ddp-vs-single max abs diff", diffs)
    assert max(diffs.values()) <= TOL, diffs
    # and training did something: the weights moved away from their initialisation
    assert (ref.b_dec.abs().max() > 0) and diffs["W_dec"] <= TOL
    meta = ddp.cfg.metadata
    assert meta["hook_name"] == "blocks.0.hook_resid_post" and meta["training_vectors"] == 2560
    summary = (out / "train_summary.json").read_text()
    assert '"world_size": 2' in summary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_crashed_rank_stops_the_others(tmp_path):
    store = _store(tmp_path / "acts")
    env = {**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    crash = (
        "import torch.distributed as d; d.init_process_group('gloo'); d.broadcast_object_list([None], 0); "
        "raise SystemExit('rank 1 crashed')"
    )
    r1 = subprocess.Popen([sys.executable, "-c", crash], env={**env, "RANK": "1"}, stderr=subprocess.PIPE, text=True)
    r0 = subprocess.run(
        [sys.executable, *_cli(store, tmp_path / "out", ["--dist-timeout", "20"])],
        env={**env, "RANK": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    r1.wait(timeout=60)
    assert r1.returncode != 0
    assert r0.returncode == 2, r0.stderr[-2000:]
    assert "monoscope: error: rank 0: lost the other ranks" in r0.stderr


def test_bad_setups():
    from monoscope.errors import MonoscopeError
    from monoscope.sae.distributed import init

    with pytest.raises(MonoscopeError, match="torchrun"):
        env = {k: os.environ.pop(k) for k in ("RANK", "WORLD_SIZE") if k in os.environ}
        try:
            init()
        finally:
            os.environ.update(env)
    with pytest.raises(MonoscopeError, match="fewer than the 4 ranks"):
        rank_shards(3, 0, 4)
    with pytest.raises(MonoscopeError, match="divisible by the 2 ranks"):
        local_batch_size(63, 2)
    assert local_batch_size(64, 2) == 32


def test_a_distributed_run_resumes_from_the_shared_checkpoint_writer(tmp_path, monkeypatch):
    """One rank in this process: killed after a checkpoint, resumed to the uninterrupted weights, with each step
    logged once; the checkpoint carries its configuration like every other (a resume with another lr is refused)."""
    import json

    from monoscope.errors import MonoscopeError
    from monoscope.sae import distributed

    store = _store(tmp_path / "acts")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")

    def cfg(lr=0.003):
        return TrainConfig(
            sae=SAEConfig("relu", 16, 32), total_vectors=64 * 30, batch_size=64, lr=lr, checkpoint_every=10, seed=0
        )

    def train(out, c):
        monkeypatch.setenv("MASTER_PORT", str(_free_port()))
        return distributed.train_sae_distributed(store, out, c, progress=False, timeout_s=30)

    ref = train(tmp_path / "ref", cfg())
    real_step = distributed.SyncedTrainer.step

    def dying_step(self, x):
        if self.t.step_no == 25:
            raise KeyboardInterrupt  # as a kill would, after the checkpoint at step 20
        return real_step(self, x)

    monkeypatch.setattr(distributed.SyncedTrainer, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", cfg())
    monkeypatch.setattr(distributed.SyncedTrainer, "step", real_step)
    assert (tmp_path / "cut" / "checkpoint.pt").exists()
    with pytest.raises(MonoscopeError, match="another configuration.*lr: 0.003 -> 0.001"):
        train(tmp_path / "cut", cfg(lr=0.001))
    back = train(tmp_path / "cut", cfg())
    for k in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(back, k), getattr(ref, k)), k
    steps = [json.loads(r)["step"] for r in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 30
    assert not (tmp_path / "cut" / "checkpoint.pt").exists()
