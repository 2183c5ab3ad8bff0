"""Feature-page latency of the browser and 100 concurrent page requests, over a real uvicorn on localhost.

Prints one JSON line: `median_ms` (and p90) of sequential GET /feature/<i> for
random features, and `errors` among `--concurrent` simultaneous page requests.
The store is any analysis (features.db); the live model is not loaded.

    python bench/serve.py --store /tmp/rd/sae_2048_3.0_0.002/analysis
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import threading
import time

import httpx
import uvicorn

from monoscope.dashboard.server import create_app
from monoscope.features.store import FeatureStore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True, help="analysis folder or features.db")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrent", type=int, default=100)
    a = ap.parse_args()
    store = FeatureStore(a.store)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(store, port=port), host="127.0.0.1", port=port, log_level="error"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(0)
    ids = [rng.randrange(store.d_sae) for _ in range(a.requests)]
    times, sizes = [], []
    with httpx.Client(base_url=base) as c:
        c.get("/feature/0")
        for i in ids:
            t0 = time.perf_counter()
            r = c.get(f"/feature/{i}")
            times.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            sizes.append(len(r.content))

    async def burst():
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=a.concurrent)) as c:
            rs = await asyncio.gather(
                *(c.get(f"/feature/{rng.randrange(store.d_sae)}") for _ in range(a.concurrent)), return_exceptions=True
            )
        return sum(1 for r in rs if isinstance(r, Exception) or r.status_code != 200)

    t0 = time.perf_counter()
    errors = asyncio.run(burst())
    burst_s = time.perf_counter() - t0
    srv.should_exit = True
    th.join(5)
    times.sort()
    print(
        json.dumps(
            {
                "figure": "serve",
                "d_sae": store.d_sae,
                "median_ms": round(statistics.median(times), 2),
                "p90_ms": round(times[int(0.9 * len(times))], 2),
                "requests": len(times),
                "mean_page_kb": round(sum(sizes) / len(sizes) / 1024, 1),
                "concurrent": a.concurrent,
                "errors": errors,
                "burst_seconds": round(burst_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
