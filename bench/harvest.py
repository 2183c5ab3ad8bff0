"""Harvest throughput against a forward pass that stops at the same hook (the honest peer).

Both run over the same training contexts with the same batch size; the peer
runs the model to the hook and stores nothing, so `ratio` = harvest tokens/s ÷
peer tokens/s is the share of the forward pass's speed left after writing the
store (vectors, trace-back index, statistics). A full forward pass (logits) is
reported beside it for scale. Each is the best of `--repeats` alternating runs,
since the machine is shared and noisy.

    python bench/harvest.py [--run runs/demo] [--dtype float32|float16] [--device cpu|cuda]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import common
import torch


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--hook", default=None, help="hook point (default: the demo store's)")
    ap.add_argument("--contexts", type=int, default=2048)
    ap.add_argument("--batch-contexts", type=int, default=64)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="store dtype")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    common.check_device(a.device)
    run = common.run_folder(a.run, "model", "data")
    from monoscope.activations import ActivationStore, HarvestConfig, harvest
    from monoscope.data import Dataset
    from monoscope.models import load_model

    hook = a.hook or ActivationStore(common.hook_store(run)).hook
    model, ds = load_model(run / "model", a.device), Dataset(run / "data")
    contexts = 32 if a.quick else a.contexts
    tokens = ds.split("train").tokens[:contexts]
    n_tok = tokens.numel()
    tmp = Path(tempfile.mkdtemp(prefix="bench_harvest_"))
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else lambda: None

    @torch.no_grad()
    def forward(**kw) -> float:
        sync()
        t0 = time.perf_counter()
        for i in range(0, len(tokens), a.batch_contexts):
            t = tokens[i : i + a.batch_contexts].to(a.device)
            model.run_with_cache(t, names=[hook], stop_early=True) if kw else model(t)
        sync()
        return n_tok / (time.perf_counter() - t0)

    def harvest_once() -> float:
        out = tmp / "acts"
        shutil.rmtree(out, ignore_errors=True)
        cfg = HarvestConfig(
            hook=hook,
            max_tokens=len(tokens) * (tokens.shape[1] - 1),
            batch_contexts=a.batch_contexts,
            dtype=a.dtype,
            device=a.device,
        )
        t0 = time.perf_counter()
        store = harvest(model, ds, out, cfg, progress=False)
        dt = time.perf_counter() - t0
        if store.count == 0:
            common.fail("harvest wrote no vectors")
        return n_tok / dt

    try:
        forward(), forward(to_hook=True)  # warm-up
        fw, fh, hv = [], [], []
        for _ in range(1 if a.quick else a.repeats):
            fw.append(forward())
            fh.append(forward(to_hook=True))
            hv.append(harvest_once())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rec = common.Recorder("harvest", a)
    rec.figure(
        f"harvest {a.dtype}",
        max(hv),
        "tokens/s",
        "forward to the hook",
        max(fh),
        full_forward_tokens_per_s=round(max(fw)),
        ratio_vs_full_forward=round(max(hv) / max(fw), 3),
        tokens=n_tok,
        hook=hook,
        store_dtype=a.dtype,
        d_model=getattr(model.cfg, "d_model", None),
    )


if __name__ == "__main__":
    main()
