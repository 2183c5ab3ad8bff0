"""Harvest throughput against a plain forward pass on the demo model.

Prints one JSON line: harvest tokens/s, plain forward (logits) tokens/s over the
same contexts and batch size, and their ratio `ratio_vs_forward`; also the ratio
against a forward pass that stops at the hook and stores nothing
(`ratio_vs_forward_to_hook`), which isolates the cost of writing the store. Each is the
best of `--repeats` alternating runs, since the machine is shared and noisy.

    python bench/harvest.py --model /tmp/rd/model --data /tmp/rd/data
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from monoscope.activations import HarvestConfig, harvest
from monoscope.data import Dataset
from monoscope.models import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/tmp/rd/model")
    ap.add_argument("--data", default="/tmp/rd/data")
    ap.add_argument("--hook", default="blocks.0.mlp.hook_post")
    ap.add_argument("--contexts", type=int, default=1024)
    ap.add_argument("--batch-contexts", type=int, default=64)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    model, ds = load_model(a.model), Dataset(a.data)
    tokens = ds.split("train").tokens[: a.contexts]
    n_tok = tokens.numel()
    tmp = Path(tempfile.mkdtemp(prefix="bench_harvest_"))

    @torch.no_grad()
    def forward() -> float:
        t0 = time.perf_counter()
        for i in range(0, len(tokens), a.batch_contexts):
            model(tokens[i : i + a.batch_contexts])
        return n_tok / (time.perf_counter() - t0)

    @torch.no_grad()
    def forward_to_hook() -> float:  # the stricter peer: the same early-stopped pass, nothing stored
        t0 = time.perf_counter()
        for i in range(0, len(tokens), a.batch_contexts):
            model.run_with_cache(tokens[i : i + a.batch_contexts], names=[a.hook], stop_early=True)
        return n_tok / (time.perf_counter() - t0)

    def harvest_once() -> float:
        out = tmp / "acts"
        shutil.rmtree(out, ignore_errors=True)
        cfg = HarvestConfig(
            hook=a.hook, max_tokens=a.contexts * (tokens.shape[1] - 1), batch_contexts=a.batch_contexts, dtype=a.dtype
        )
        t0 = time.perf_counter()
        store = harvest(model, ds, out, cfg, progress=False)
        dt = time.perf_counter() - t0
        assert store.count > 0
        return n_tok / dt

    try:
        forward()  # warm-up
        fw, fh, hv = [], [], []
        for _ in range(a.repeats):
            fw.append(forward())
            fh.append(forward_to_hook())
            hv.append(harvest_once())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "figure": "ratio_vs_forward",
                "ratio_vs_forward": round(max(hv) / max(fw), 3),
                "ratio_vs_forward_to_hook": round(max(hv) / max(fh), 3),
                "harvest_tokens_per_s": round(max(hv)),
                "forward_tokens_per_s": round(max(fw)),
                "tokens": n_tok,
                "hook": a.hook,
                "dtype": a.dtype,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
