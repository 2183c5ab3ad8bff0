"""`make bench`: every bench in bench/ with its defaults, one after another, then one table of all figures.

Each bench runs in its own process (so one's memory or threads never colour the
next) with this checkout first on the path, appends its figures to
bench/results.jsonl, and prints them as JSON lines; this prints them again as
one table at the end, with each bench's wall time. A bench that fails is named
at the end and makes the exit status 1; the others still run.

    python bench/run_all.py [--run runs/demo] [--device cpu] [--only harvest,serve] [--quick] [--out bench/out]

Each bench keeps its files in OUT/<bench>.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent
NOT_BENCHES = {"common.py", "run_all.py"}


def benches() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.name not in NOT_BENCHES)


def takes_run(name: str) -> bool:
    """Benches made with common.parser(..., run=False) read no run folder (synthetic data)."""
    return "run=False)" not in (HERE / f"{name}.py").read_text()


def main() -> int:
    ap = common.parser(__doc__, out=common.OUT)
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {', '.join(benches())}")
    a = ap.parse_args()
    common.check_device(a.device)
    names = benches() if not a.only else a.only.split(",")
    unknown = [n for n in names if n not in benches()]
    if unknown:
        common.fail(f"unknown bench(es) {', '.join(unknown)}; known: {', '.join(benches())}")
    common.run_folder(a.run)  # says to run `make demo` before any bench starts
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(common.ROOT), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("TQDM_DISABLE", "1")
    records, failed, times = [], [], {}
    t_all = time.time()
    for name in names:
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--device", a.device, "--results", a.results]
        cmd += ["--out", str(Path(a.out) / name)]
        if takes_run(name):
            cmd += ["--run", a.run]
        if a.quick:
            cmd.append("--quick")
        print(f"== {name}", flush=True)
        t0 = time.time()
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        times[name] = time.time() - t0
        sys.stdout.write(p.stdout)
        got = [json.loads(line) for line in p.stdout.splitlines() if line.startswith('{"bench"')]
        records += got
        if p.returncode or not got:
            failed.append(f"{name} (exit {p.returncode}{', no figures' if not got else ''})")
    print()
    print(common.table(records))
    print()
    print("wall time: " + " ".join(f"{n}={t:.0f}s" for n, t in times.items()) + f"  total={time.time() - t_all:.0f}s")
    print(f"figures appended to {a.results}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
