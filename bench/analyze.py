"""Feature-analysis cost against a plain forward + encode pass over the same tokens.

The streaming pass of `monoscope analyze` (forward to the hook, SAE encode, and
every feature's running evidence: density, top and quantile examples with
their windows, histograms, neuron and feature correlations) is timed against a
forward pass to the hook plus the SAE's encode over the same contexts in the
same process (best of two, before and after). Figures, in seconds per million
tokens (scaled from `--tokens`):
- `analysis stream`: `ratio` = streaming seconds ÷ plain seconds;
- `analysis total`: the stream plus the per-feature finishing work (logit
  effects, neighbours, correlations, ablation, writing the store), which does
  not grow with tokens, against the same plain pass.

    python bench/analyze.py [--run runs/demo] [--tokens 100000] [--device cpu|cuda]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import common
import torch


@torch.no_grad()
def plain_pass(run, tokens: torch.Tensor, batch: int, device: str) -> float:
    sync = torch.cuda.synchronize if device.startswith("cuda") else lambda: None
    sync()
    t0 = time.perf_counter()
    for s in range(0, len(tokens), batch):
        _, cache = run.model.run_with_cache(tokens[s : s + batch].to(device), names=[run.hook], stop_early=True)
        run.sae.encode(cache[run.hook])
    sync()
    return time.perf_counter() - t0


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--tokens", type=int, default=100_000)
    a = ap.parse_args()
    common.check_device(a.device)
    run = common.open_run(a.run, a.device)
    from monoscope.features.analysis import AnalysisConfig, analyze

    n = 2048 if a.quick else a.tokens
    cfg = AnalysisConfig(tokens=n, device=a.device)
    T = run.dataset.meta["n_ctx"]
    tokens = run.dataset.split(cfg.split).tokens[: -(-n // T)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_analyze_"))
    try:
        plain = plain_pass(run, tokens, cfg.batch_contexts, a.device)
        s = analyze(run, tmp / "analysis", cfg, overwrite=True, progress=False)
        plain = min(plain, plain_pass(run, tokens, cfg.batch_contexts, a.device))  # shared machine: the better
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_m = 1e6 / tokens.numel()
    finish = s["seconds"] - s["stream_seconds"]
    rec = common.Recorder("analyze", a)
    details = dict(d_sae=run.sae.d_sae, architecture=run.sae.architecture, tokens=int(tokens.numel()))
    rec.figure(
        "analysis stream",
        s["stream_seconds"] * per_m,
        "s per 1M tokens",
        "forward to the hook + encode",
        plain * per_m,
        **details,
    )
    rec.figure(
        "analysis total",
        s["stream_seconds"] * per_m + finish,
        "s per 1M tokens",
        "forward to the hook + encode",
        plain * per_m,
        finish_seconds=round(finish, 2),
        **details,
    )


if __name__ == "__main__":
    main()
