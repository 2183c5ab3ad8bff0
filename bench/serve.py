"""The feature browser over a real uvicorn on localhost: page latency, the live view, 100 concurrent requests.

Figures (each the median of sequential requests):
- `feature page`: GET /feature/<i> for random features, against GET of a static
  file from the same server (the HTTP floor): `ratio` = how many floors a page costs.
- `live view`: POST /api/activations with a validation document's text, against
  the same text's forward pass to the hook + SAE encode in this process.
- `concurrent errors`: failed responses among `--concurrent` simultaneous page requests.

    python bench/serve.py [--run runs/demo] [--device cpu|cuda]
"""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import threading
import time

import common
import torch


def median_ms(fn, n: int) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrent", type=int, default=100)
    a = ap.parse_args()
    common.check_device(a.device)
    run_path = common.run_folder(a.run, "analysis/features.db", "sae", "model", "data")
    import httpx
    import uvicorn

    from monoscope.dashboard.server import create_app, open_browser_state
    from monoscope.errors import MonoscopeError

    try:
        store, live = open_browser_state(run_path, live=True, device=a.device)
    except MonoscopeError as e:
        common.fail(str(e))
    n_req = 20 if a.quick else a.requests
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(store, live, port=port), host="127.0.0.1", port=port, log_level="error")
    )
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    if not srv.started:
        common.fail("uvicorn did not start within 30 s")
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(0)
    from monoscope.data import Dataset

    text = next(d["text"] for d in Dataset(run_path / "data").docs if d["split"] == "val")[:2000]
    sizes = []
    try:
        with httpx.Client(base_url=base, timeout=60) as c:

            def page():
                r = c.get(f"/feature/{rng.randrange(store.d_sae)}")
                r.raise_for_status()
                sizes.append(len(r.content))

            def floor():
                c.get("/static/style.css").raise_for_status()

            def live_view():
                c.post("/api/activations", json={"text": text}).raise_for_status()

            page(), floor(), live_view()  # warm-up
            page_ms, floor_ms = median_ms(page, n_req), median_ms(floor, n_req)
            live_ms = median_ms(live_view, max(3, n_req // 10))
        with torch.no_grad():
            live_inproc_ms = median_ms(lambda: live.activations(text), max(3, n_req // 10))

        async def burst():
            limits = httpx.Limits(max_connections=a.concurrent)
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:
                rs = await asyncio.gather(
                    *(c.get(f"/feature/{rng.randrange(store.d_sae)}") for _ in range(a.concurrent)),
                    return_exceptions=True,
                )
            return sum(1 for r in rs if isinstance(r, Exception) or r.status_code != 200)

        t0 = time.perf_counter()
        errors = asyncio.run(burst())
        burst_s = time.perf_counter() - t0
    finally:
        srv.should_exit = True
        th.join(5)
    rec = common.Recorder("serve", a)
    rec.figure(
        "feature page",
        page_ms,
        "ms",
        "static file, same server",
        floor_ms,
        d_sae=store.d_sae,
        requests=n_req,
        mean_page_kb=round(sum(sizes) / len(sizes) / 1024, 1),
    )
    rec.figure(
        "live view",
        live_ms,
        "ms",
        "same text in-process",
        live_inproc_ms,
        characters=len(text),
    )
    rec.figure("concurrent errors", errors, f"of {a.concurrent}", burst_seconds=round(burst_s, 2))


if __name__ == "__main__":
    main()
