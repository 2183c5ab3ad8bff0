"""Every bench in bench/ runs on the tiny demo configuration, so none can rot (their figures are not asserted).

Also the refusals every bench shares: a run folder that does not exist says to
run `make demo`, and a device this machine lacks is refused before any work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
STAMP = ("bench", "figure", "value", "unit", "peer", "peer_value", "ratio", "commit", "date", "device", "threads")


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, **kw)


def test_every_bench_runs_on_the_quick_demo(tiny_run, tmp_path):
    results = tmp_path / "results.jsonl"
    p = _run([str(BENCH / "run_all.py"), "--quick", "--run", str(tiny_run[0]), "--results", str(results)])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    names = sorted(f.stem for f in BENCH.glob("*.py") if f.name not in ("common.py", "run_all.py"))
    recs = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted({r["bench"] for r in recs}) == names
    for r in recs:
        assert all(k in r for k in STAMP), r
        assert r["quick"] is True and r["threads"] >= 1
    table = p.stdout[p.stdout.index("\nbench ") :].splitlines()[1:]  # the table: a header, then a row per figure
    assert table[0].split()[:3] == ["bench", "figure", "value"] and len(table) >= len(recs) + 1


def test_a_missing_run_folder_says_to_run_make_demo(tmp_path):
    for name in ("analyze", "harvest", "train_throughput"):
        p = _run([str(BENCH / f"{name}.py"), "--run", str(tmp_path / "nothing"), "--results", str(tmp_path / "r")])
        assert p.returncode == 2
        assert "make demo" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused_before_any_work(tiny_run, tmp_path):
    p = _run(
        [str(BENCH / "harvest.py"), "--run", str(tiny_run[0]), "--device", "cuda", "--results", str(tmp_path / "r")]
    )
    assert p.returncode == 2 and "CUDA" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "r").exists()
