"""Every bench in bench/ runs on the tiny demo configuration, so none can rot (their figures are not asserted).

Also the refusals every bench shares: a run folder that does not exist says to
run `make demo`, and a device this machine lacks is refused before any work.
The benches run with their scratch (TMPDIR) and their --out under pytest's
tmp_path, and the checkout is compared before and after: a bench that writes
into the working tree (a stale model under bench/out once broke later runs)
fails here.
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
sys.path.insert(0, str(BENCH))
import run_all  # noqa: E402

NAMES = run_all.benches()
NO_CUDA = pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")


def _run(args, tmp_path: Path, scratch: bool = False, **kw):
    # scratch: TMPDIR under tmp_path, to see what a bench writes there (not with the browser: Chromium aborts on a
    # TMPDIR path as long as tmp_path's)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    if scratch:
        (tmp_path / "scratch").mkdir(exist_ok=True)
        env["TMPDIR"] = str(tmp_path / "scratch")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, **kw)


def checkout_files() -> dict[str, tuple[int, int]]:
    """Every file of the checkout (not .git, virtualenvs or symlinked folders) with its size and mtime."""
    files = {}
    for top, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != ".git" and not d.startswith(".venv")]
        for n in names:
            p = Path(top) / n
            if not p.is_symlink():
                st = p.stat()
                files[str(p.relative_to(ROOT))] = (st.st_size, st.st_mtime_ns)
    return files


def test_every_bench_runs_on_the_quick_demo_and_writes_only_under_tmp_path(tiny_run, tmp_path):
    results, out = tmp_path / "results.jsonl", tmp_path / "out"
    before = checkout_files()
    p = _run(
        [str(BENCH / "run_all.py"), "--quick", "--run", str(tiny_run[0]), "--results", str(results), "--out", str(out)],
        tmp_path,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert checkout_files() == before
    recs = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted({r["bench"] for r in recs}) == NAMES
    for r in recs:
        assert all(k in r for k in STAMP), r
        assert r["quick"] is True and r["threads"] >= 1
    table = p.stdout[p.stdout.index("\nbench ") :].splitlines()[1:]  # the table: a header, then a row per figure
    assert table[0].split()[:3] == ["bench", "figure", "value"] and len(table) >= len(recs) + 1
    assert (out / "steer" / "figures.json").exists()  # what a bench keeps goes to its own folder under --out


@pytest.mark.parametrize("name", [n for n in NAMES if run_all.takes_run(n)])
def test_a_missing_run_folder_says_to_run_make_demo(tmp_path, name):
    p = _run(
        [str(BENCH / f"{name}.py"), "--run", str(tmp_path / "nothing"), "--results", str(tmp_path / "r")], tmp_path
    )
    assert p.returncode == 2
    assert "make demo" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "r").exists()


def test_run_all_says_to_run_make_demo_before_any_bench(tmp_path):
    p = _run(
        [str(BENCH / "run_all.py"), "--run", str(tmp_path / "nothing"), "--results", str(tmp_path / "r")], tmp_path
    )
    assert p.returncode == 2 and "make demo" in p.stderr and "== " not in p.stdout, p.stdout + p.stderr


@NO_CUDA
@pytest.mark.parametrize("name", [*NAMES, "run_all"])
def test_cuda_without_a_gpu_is_refused_before_any_work(tiny_run, tmp_path, name):
    args = [
        str(BENCH / f"{name}.py"),
        "--device",
        "cuda",
        "--results",
        str(tmp_path / "r"),
        "--out",
        str(tmp_path / "o"),
    ]
    if name == "run_all" or run_all.takes_run(name):
        args += ["--run", str(tiny_run[0])]
    p = _run(args, tmp_path, scratch=True)
    assert p.returncode == 2 and "no CUDA" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()
    assert list((tmp_path / "scratch").iterdir()) == []
