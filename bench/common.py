"""What every bench shares: the run folder it reads, one JSON line per figure, and the results file.

A figure is a measured value beside the value it is judged against in the same
process run (a peer such as SAELens, or the machine's own ceiling, such as a
plain matmul or a forward pass that stops at the same hook), and their ratio:
these machines are shared and noisy, so only ratios taken together mean much.

Every figure is printed as one JSON line and appended to `bench/results.jsonl`
with the git commit, the date, the device and the thread count, so a result
can always be traced back to the code and machine that produced it.
`--quick` shrinks each bench to the tiny demo configuration (the test that
keeps every bench running uses it; its figures mean nothing). What a bench keeps
besides its figures (plots, figures.json) goes to `--out` (bench/out/<bench>);
its scratch files go to a temporary folder (TMPDIR), so a bench run writes
nothing else into the checkout.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.jsonl"
OUT = ROOT / "bench" / "out"
DEMO = "runs/demo"
_FIXED = ("bench", "figure", "value", "unit", "peer", "peer_value", "ratio")


def parser(doc: str | None, run: bool = True, out: Path | None = None) -> argparse.ArgumentParser:
    """The flags every bench takes: --run (default runs/demo), --device, --quick, --results, --out
    (default bench/out/<this bench>; run_all passes each bench its own folder under its own --out)."""
    first = (doc or "").strip().splitlines()[0] if doc else None
    ap = argparse.ArgumentParser(description=first, formatter_class=argparse.RawDescriptionHelpFormatter)
    if run:
        ap.add_argument("--run", default=DEMO, help="run folder made by `make demo` (default runs/demo)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for the test that keeps every bench running")
    ap.add_argument("--results", default=str(RESULTS), help="JSON-lines file the figures are appended to")
    out = out or OUT / Path(sys.argv[0]).stem
    ap.add_argument("--out", default=str(out), help=f"folder for the files a bench keeps (default {_rel(out)})")
    return ap


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def fail(msg: str) -> None:
    """A bench's one-line refusal (exit 2, like the CLI)."""
    print(f"bench: error: {msg}", file=sys.stderr)
    sys.exit(2)


def check_device(device: str) -> str:
    """Refuse a device this machine lacks before any work (one line, exit 2)."""
    from monoscope.errors import MonoscopeError
    from monoscope.precision import check_device as check

    try:
        check(device)
    except MonoscopeError as e:
        fail(str(e))
    return device


def run_folder(path: str | Path, *needs: str) -> Path:
    """The run folder, or a refusal that says to run `make demo` (checked before anything is loaded)."""
    p = Path(path)
    if not p.is_dir():
        fail(f"run folder {p} does not exist; run `make demo` first (or pass --run FOLDER)")
    for n in needs:
        if not (p / n).exists():
            fail(f"{p} has no {n}; run `make demo` first (or pass --run FOLDER of a finished demo)")
    return p


def open_run(path: str | Path, device: str = "cpu", needs: tuple[str, ...] = ("sae", "model", "data")):
    from monoscope.errors import MonoscopeError
    from monoscope.run_folder import load_run

    p = run_folder(path, *needs)
    try:
        return load_run(p, device=device)
    except MonoscopeError as e:
        fail(str(e))


def hook_store(run_path: str | Path) -> Path:
    """The activation store the demo harvested (RUN/acts/<hook>)."""
    acts = run_folder(run_path, "acts") / "acts"
    stores = sorted(p.parent for p in acts.glob("**/meta.json"))
    if not stores:
        fail(f"{acts} holds no activation store; run `make demo` first")
    return stores[0]


def live_features(sae_folder: str | Path, n: int) -> list[int]:
    """n typical live latents: those around the median training density of the latents that fired at all
    (from the SAE's sparsity file), for benches that watch a few features."""
    import torch

    from monoscope.sae.io import load_sparsity

    s = load_sparsity(sae_folder)
    if s is None:
        fail(f"{sae_folder} has no sparsity.safetensors to choose live features from")
    alive = (s > -9.5).nonzero().flatten()  # log10(density + 1e-10): -10 means never fired
    if len(alive) == 0:
        fail(f"no latent of {sae_folder} fired in training; nothing to watch")
    order = alive[torch.argsort(s[alive], stable=True)]
    mid = max(0, len(order) // 2 - n // 2)
    return sorted(int(i) for i in order[mid : mid + n])


def git_commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], text=True, capture_output=True
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_name(device: str) -> str:
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu ({cpu}, {os.cpu_count()} cores)"


class Recorder:
    """Prints each figure as one JSON line and appends it, stamped, to the results file."""

    def __init__(self, bench: str, args: argparse.Namespace):
        import torch

        self.bench, self.results = bench, Path(args.results)
        self.stamp = {
            "commit": git_commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": device_name(getattr(args, "device", "cpu")),
            "threads": torch.get_num_threads(),
            "quick": bool(getattr(args, "quick", False)),
        }

    def figure(
        self,
        figure: str,
        value: float,
        unit: str,
        peer: str | None = None,
        peer_value: float | None = None,
        ratio: float | None = None,
        **details,
    ) -> dict:
        """One figure: `value` (unit) against `peer_value` of `peer`; ratio defaults to value / peer_value."""
        if ratio is None and peer_value:
            ratio = value / peer_value
        rec = {
            "bench": self.bench,
            "figure": figure,
            "value": _round(value),
            "unit": unit,
            "peer": peer,
            "peer_value": _round(peer_value),
            "ratio": _round(ratio),
            **self.stamp,
            **details,
        }
        line = json.dumps(rec)
        print(line, flush=True)
        self.results.parent.mkdir(parents=True, exist_ok=True)
        with open(self.results, "a", encoding="utf-8") as fh:  # appends of one line are atomic enough here
            fh.write(line + "\n")
        return rec


def _round(v):
    if v is None or isinstance(v, int):
        return v
    v = float(v)
    return float(f"{v:.4g}") if abs(v) < 100 else round(v, 1)  # 4 significant digits: a 1e-7 error is not 0


def table(records: list[dict]) -> str:
    """The figures as one aligned text table."""
    head = ("bench", "figure", "value", "unit", "peer", "peer value", "ratio")
    rows = [head] + [
        tuple(
            "" if r.get(k) is None else str(r.get(k))
            for k in ("bench", "figure", "value", "unit", "peer", "peer_value", "ratio")
        )
        for r in records
    ]
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows)
