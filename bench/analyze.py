"""Feature-analysis throughput for a 4096-feature SAE on the demo model, against a plain forward+encode pass.

Prints one JSON line. `seconds_per_million_tokens` = streaming seconds scaled
from `--tokens` to 1M, plus the per-feature finishing work (logit effects,
neighbours, correlations, ablation, writing the store), which does not grow
with tokens. `plain_seconds_per_million_tokens` times a forward pass to the hook
plus SAE encode over the same contexts in the same process; `ratio` is the
streaming pass over that. With no --sae, the 4096-feature SAE is the
concatenation of two trained 2048-feature SAEs from /tmp/rd (realistic sparsity).

    python bench/analyze.py --tokens 100000
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from monoscope.features.analysis import AnalysisConfig, analyze
from monoscope.io import read_json
from monoscope.run import load_run


def stacked_sae(a: str, b: str, out: Path) -> Path:
    """Two SAEs on the same hook as one dictionary of both sizes (SAELens layout)."""
    from monoscope.sae.io import load_sae, save_sae

    s1, s2 = load_sae(a), load_sae(b)
    cfg = s1.cfg
    cfg.d_sae = s1.d_sae + s2.d_sae
    big = type(s1)(cfg)
    with torch.no_grad():
        big.W_enc.copy_(torch.cat([s1.W_enc, s2.W_enc], 1))
        big.b_enc.copy_(torch.cat([s1.b_enc, s2.b_enc]))
        big.W_dec.copy_(torch.cat([s1.W_dec, s2.W_dec], 0))
        big.b_dec.copy_(s1.b_dec)
    save_sae(big, out)
    return out


@torch.no_grad()
def plain_pass(run, tokens: torch.Tensor, batch: int) -> float:
    t0 = time.perf_counter()
    for s in range(0, len(tokens), batch):
        _, cache = run.model.run_with_cache(tokens[s : s + batch], names=[run.hook], stop_early=True)
        run.sae.encode(cache[run.hook])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default=None, help="an SAE folder (default: two /tmp/rd 2048-feature SAEs stacked)")
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--out", default=None, help="keep the store here (default: a temporary folder)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_analyze_"))
    try:
        sae = a.sae or str(stacked_sae("/tmp/rd/sae_2048_3.0_0.002", "/tmp/rd/sae_2048_5.0_0.001", tmp / "sae_4096"))
        run = load_run(sae)
        cfg = AnalysisConfig(tokens=a.tokens)
        T = run.dataset.meta["n_ctx"]
        tokens = run.dataset.split(cfg.split).tokens[: -(-a.tokens // T)]
        plain = plain_pass(run, tokens, cfg.batch_contexts)
        out = Path(a.out) if a.out else tmp / "analysis"
        s = analyze(run, out, cfg, overwrite=True, progress=False)
        plain2 = plain_pass(run, tokens, cfg.batch_contexts)  # the machine is shared: take the better of two
        plain = min(plain, plain2)
        n = s["n_tokens"]
        per_m = 1e6 / tokens.numel()
        finish = s["seconds"] - s["stream_seconds"]
        print(json.dumps({
            "figure": "analyze", "d_sae": run.sae.d_sae, "tokens_measured": int(tokens.numel()), "tokens_counted": n,
            "seconds_per_million_tokens": round(s["stream_seconds"] * per_m + finish, 1),
            "stream_seconds_per_million_tokens": round(s["stream_seconds"] * per_m, 1),
            "finish_seconds": round(finish, 1),
            "plain_seconds_per_million_tokens": round(plain * per_m, 1),
            "ratio": round(s["stream_seconds"] / plain, 2),
            "scaled": tokens.numel() < 1_000_000, "threads": torch.get_num_threads(),
            "summary": {k: s[k] for k in ("dead", "examples", "ablated_examples", "mean_l0")},
        }))
        read_json(out / "analysis.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
