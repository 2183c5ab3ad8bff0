"""bench/gpu.sh, the script that runs every --device path, runs on CPU with --device cpu, so it cannot rot where no
GPU is lent (its figures are not asserted); without CUDA, --device cuda fails loudly before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu.sh"


def _gpu_sh(tmp_path: Path, *args: str):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True)


def test_every_device_path_runs_on_cpu(tmp_path):
    from monoscope.sae import ARCHITECTURES

    results = tmp_path / "results.jsonl"
    p = _gpu_sh(tmp_path, "--device", "cpu", "--work", str(tmp_path / "work"), "--results", str(results))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    printed = [json.loads(line) for line in p.stdout.splitlines()]
    assert printed == [json.loads(line) for line in results.read_text().splitlines()]
    steps = [r["figure"] for r in printed if r["bench"] == "gpu"]
    assert steps == [
        "demo",
        "train-model",
        "harvest-fp32",
        "harvest-bf16-refused-on-cpu",
        *(f"train-sae-{a}" for a in sorted(ARCHITECTURES)),
        "harvest-transcoder",
        "train-transcoder",
        "train-online",
        "ddp-torchrun",
        "analyze",
        "steer",
        "serve-live-view",
    ]
    throughput = [r for r in printed if r["bench"] == "train_throughput"]
    assert throughput and all(r["peer"] and r["ratio"] > 0 and r["device"].startswith("cpu") for r in throughput)
    assert all(r["value"] >= 0 and r["unit"] == "s" and r["threads"] >= 1 for r in printed if r["bench"] == "gpu")
    log = (tmp_path / "work" / "logs" / "harvest-bf16-refused-on-cpu.log").read_text()
    assert "bfloat16 asked for on cpu" in log and log.count("\n") == 1


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_fails_loudly_before_any_work(tmp_path):
    p = _gpu_sh(tmp_path, "--device", "cuda", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "r"))
    assert p.returncode != 0 and "no CUDA" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert p.stdout == "" and not (tmp_path / "work").exists() and not (tmp_path / "r").exists()


def test_a_failing_step_is_named_and_stops_the_script(tmp_path):
    """The first path that breaks stops the script with its name: here the demo, given a folder that is a file."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "run").write_text("not a folder")
    p = _gpu_sh(tmp_path, "--device", "cpu", "--work", str(work), "--results", str(tmp_path / "r"))
    assert p.returncode != 0 and "FAILED at step 'demo'" in p.stderr, p.stderr
    assert p.stdout == "" and not (tmp_path / "r").exists()
