"""Checkpoints survive kill -9: the same command resumes and ends with the same weights as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from sae_store_helpers import make_store
from safetensors.torch import load_file

from monoscope.errors import MonoscopeError

SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {helpers!r})
    from monoscope.activations import ActivationStore
    from monoscope.sae import SAEConfig, TrainConfig, train_sae
    from monoscope.sae.sweep import train_sweep

    class SlowStore(ActivationStore):  # slow enough that the parent can kill it mid-run
        def iter_batches(self, *a, **kw):
            for b in super().iter_batches(*a, **kw):
                time.sleep(float(sys.argv[3]))
                yield b

    store = SlowStore(sys.argv[1])
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else 3e-3
    cfg = TrainConfig(sae=SAEConfig("topk", 16, 64, k=4), total_vectors=256 * 40, batch_size=256, lr=lr,
                      checkpoint_every=3, dead_window=512, seed=7)
    relu = TrainConfig(sae=SAEConfig("relu", 16, 64), total_vectors=256 * 40, batch_size=256, lr=lr, checkpoint_every=3,
                       sparsity_coef=0.3, resample_at=(0.5,), dead_window=512, seed=7)
    if sys.argv[5] == "sweep":
        train_sweep(store, sys.argv[2], {{"topk": cfg, "relu": relu}}, progress=False)
    else:
        train_sae(store, sys.argv[2], relu, progress=False)
""")


def run(script, store, out, delay, lr="3e-3", mode="sweep"):
    return subprocess.Popen(
        [sys.executable, str(script), str(store), str(out), str(delay), lr, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    make_store(d / "store", n=2048, seed=3)
    script = d / "train.py"
    script.write_text(SCRIPT.format(helpers=str(Path(__file__).parent)))
    return d, script


def weights(folder):
    return load_file(str(folder / "sae_weights.safetensors"))


@pytest.mark.parametrize("mode", ["sweep", "single"])
def test_kill_9_then_resume_gives_the_uninterrupted_weights(setup, mode):
    d, script = setup
    ref, cut = d / f"ref_{mode}", d / f"cut_{mode}"
    p = run(script, d / "store", ref, 0.0, mode=mode)
    assert p.wait(timeout=120) == 0, p.stderr.read()
    p = run(script, d / "store", cut, 0.08, mode=mode)
    t0 = time.time()
    while not (cut / "checkpoint.pt").exists() and time.time() - t0 < 60 and p.poll() is None:
        time.sleep(0.05)
    time.sleep(0.4)
    assert p.poll() is None, "the run finished before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert (cut / "checkpoint.pt").exists()
    assert not (cut / "monoscope_stage.json").read_text().count('"complete": true')
    p = run(script, d / "store", cut, 0.0, mode=mode)
    assert p.wait(timeout=120) == 0, p.stderr.read()
    names = ["topk", "relu"] if mode == "sweep" else [""]
    for n in names:
        a, b = weights(ref / n), weights(cut / n)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{n}/{k} differs after resume"
    assert not (cut / "checkpoint.pt").exists()
    steps = [r for r in (cut / names[0] / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == len((ref / names[0] / "metrics.jsonl").read_text().splitlines())  # no step logged twice


def test_resume_with_another_configuration_is_refused(setup):
    d, script = setup
    cut = d / "cut_other"
    p = run(script, d / "store", cut, 0.08)
    t0 = time.time()
    while not (cut / "checkpoint.pt").exists() and time.time() - t0 < 60 and p.poll() is None:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    p = run(script, d / "store", cut, 0.0, lr="1e-3")
    assert p.wait(timeout=120) != 0
    err = p.stderr.read()
    assert "another configuration" in err and "lr: 0.003 -> 0.001" in err


def test_checkpoint_itself_names_the_difference(tmp_path):
    from monoscope.sae.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "c.pt", {"step": 3}, {"lr": 0.003, "sae": {"k": 4}})
    assert load_checkpoint(tmp_path / "c.pt", {"lr": 0.003, "sae": {"k": 4}})["step"] == 3
    with pytest.raises(MonoscopeError, match=r"sae.k: 4 -> 8"):
        load_checkpoint(tmp_path / "c.pt", {"lr": 0.003, "sae": {"k": 8}})
