"""Feature-monitor throughput against a forward pass that stops at the same hook.

Both sides see the same documents (the validation documents of the demo's
data): the monitor tokenises them, runs to the hook, encodes the watched
features and formats every hit as a JSON line; the peer runs the model to the
hook over the same token windows, already tokenised. The watched features are
the two the SAE saw fire most often in training (never fixed indices), and the
threshold is 0 so every firing is a hit. `ratio` = monitor tokens/s ÷ peer
tokens/s, best of `--repeats` alternating runs (the machine is shared).
A full forward pass (logits) is reported beside it for scale.

    python bench/monitor.py [--run runs/demo] [--device cpu|cuda]
"""

from __future__ import annotations

import json
import time

import common
import torch


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--features", default=None, help="comma-separated (default: the two most often active)")
    ap.add_argument("--threshold", type=float, default=0.0)
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--batch-contexts", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    common.check_device(a.device)
    run = common.open_run(a.run, a.device)
    from monoscope.steer.monitor import Monitor, MonitorConfig

    model, ds = run.model, run.dataset
    feats = [int(f) for f in a.features.split(",")] if a.features else common.live_features(run.sae_folder, 2)
    docs = [(f"doc{d['id']}", d["text"]) for d in ds.docs if d["split"] == "val"][: 8 if a.quick else a.docs]
    cfg = MonitorConfig(features=feats, threshold=a.threshold, batch_contexts=a.batch_contexts)
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
        batches.append(t.to(a.device))
    n_tok = sum(map(len, wins))
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else lambda: None

    @torch.no_grad()
    def forward(to_hook: bool) -> float:
        sync()
        t0 = time.perf_counter()
        for t in batches:
            model.run_with_cache(t, names=[run.hook], stop_early=True) if to_hook else model(t)
        sync()
        return n_tok / (time.perf_counter() - t0)

    def monitor() -> tuple[float, dict]:
        lines = []
        mon = Monitor(model, run.sae, ds.tokenizer, ds.bos_id, cfg, positions=ds.positions)
        t0 = time.perf_counter()
        s = mon.run(iter(docs), lambda h: lines.append(json.dumps(h)))
        dt = time.perf_counter() - t0
        if s.tokens != n_tok:
            common.fail(f"the monitor read {s.tokens} tokens, the peer {n_tok}")
        return n_tok / dt, s.to_dict()

    forward(True), forward(False)
    fw, fh, mo = [], [], []
    summ = {}
    for _ in range(1 if a.quick else a.repeats):
        fw.append(forward(False))
        fh.append(forward(True))
        r, summ = monitor()
        mo.append(r)
    common.Recorder("monitor", a).figure(
        "monitor",
        max(mo),
        "tokens/s",
        "forward to the hook",
        max(fh),
        full_forward_tokens_per_s=round(max(fw)),
        ratio_vs_full_forward=round(max(mo) / max(fw), 3),
        tokens=n_tok,
        documents=len(docs),
        features=feats,
        threshold=a.threshold,
        hits=summ.get("hits"),
    )


if __name__ == "__main__":
    main()
