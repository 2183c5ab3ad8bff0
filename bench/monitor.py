"""Feature-monitor throughput against a plain forward pass on the demo model.

Both sides see the same documents (the validation documents of the data
folder): the monitor tokenises them, runs to the hook (stop_early), encodes
the watched features and formats every hit as a JSON line; the peer runs the
full forward pass (logits) over the same token windows, already tokenised.
Prints one JSON line with `ratio_vs_forward` = monitor tokens/s / forward
tokens/s, best of `--repeats` alternating runs (the machine is shared and noisy).

    python bench/monitor.py --sae runs/demo
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from monoscope.run import load_run
from monoscope.steer.monitor import Monitor, MonitorConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default="runs/demo")
    ap.add_argument("--features", default="1504,698")
    ap.add_argument("--threshold", type=float, default=1.0)
    ap.add_argument("--docs", type=int, default=105)
    ap.add_argument("--batch-contexts", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    run = load_run(a.sae)
    model, ds = run.model, run.dataset
    docs = [(f"doc{d['id']}", d["text"]) for d in ds.docs if d["split"] == "val"][: a.docs]
    cfg = MonitorConfig(
        features=[int(f) for f in a.features.split(",")], threshold=a.threshold, batch_contexts=a.batch_contexts
    )
    # the peer's windows: the same documents, cut the same way, padded with BOS to a common length per batch
    body = model.cfg.n_ctx - 1
    wins = [
        ids[o : o + body]
        for ids in (e.ids for e in ds.tokenizer.encode_batch([t for _, t in docs]))
        for o in range(0, len(ids), body)
    ]
    batches = []
    for i in range(0, len(wins), a.batch_contexts):
        w = wins[i : i + a.batch_contexts]
        t = torch.full((len(w), max(map(len, w)) + 1), ds.bos_id, dtype=torch.long)
        for r, x in enumerate(w):
            t[r, 1 : 1 + len(x)] = torch.tensor(x)
        batches.append(t)
    n_tok = sum(map(len, wins))

    @torch.no_grad()
    def forward() -> float:
        t0 = time.perf_counter()
        for t in batches:
            model(t)
        return n_tok / (time.perf_counter() - t0)

    def monitor() -> tuple[float, dict]:
        lines = []
        mon = Monitor(model, run.sae, ds.tokenizer, ds.bos_id, cfg)
        t0 = time.perf_counter()
        s = mon.run(iter(docs), lambda h: lines.append(json.dumps(h)))
        dt = time.perf_counter() - t0
        assert s.tokens == n_tok, (s.tokens, n_tok)
        return n_tok / dt, s.to_dict()

    forward()
    fw, mo = [], []
    for _ in range(a.repeats):
        fw.append(forward())
        r, summ = monitor()
        mo.append(r)
    print(
        json.dumps(
            {
                "figure": "ratio_vs_forward",
                "ratio_vs_forward": round(max(mo) / max(fw), 3),
                "monitor_tokens_per_s": round(max(mo)),
                "forward_tokens_per_s": round(max(fw)),
                "tokens": n_tok,
                "documents": len(docs),
                "features": cfg.features,
                "threshold": a.threshold,
                "hits": summ["hits"],
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
