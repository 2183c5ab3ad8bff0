"""The offline dashboard at scale: bytes on disk per feature, and how fast Chromium opens it at 65,536 latents.

Figures:
- `dashboard size`: bytes per feature of `monoscope dashboard` on the demo's
  analysis (every file: pages, assets, data), against the bytes of the
  server-rendered HTML page of the same features (what one page per feature
  used to cost on disk).
- `index open, 65,536 features`: milliseconds from navigation to the drawn list
  (Debian's chromium via playwright, headless, from disk) on a synthetic store
  of 65,536 latents (monoscope.features.synthetic), against the same for the
  demo's dictionary: how open time grows with 64x more features.
- `feature page open, 65,536 features`: a feature page of that export, against the demo's.
Each time is the median of `--repeats` fresh page loads.

    python bench/dashboard.py [--run runs/demo]
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import common

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def folder_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def open_ms(browser, url: str, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        page = browser.new_page()
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("body[data-ready]")
        ts.append((time.perf_counter() - t0) * 1000)
        page.close()
    return statistics.median(ts)


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--latents", type=int, default=65_536, help="size of the synthetic dictionary")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    common.check_device(a.device)
    run = common.run_folder(a.run, "analysis/features.db", "sae")
    if not Path(CHROMIUM).exists():
        common.fail(f"{CHROMIUM} is missing: install Debian's chromium (make browser)")
    from playwright.sync_api import sync_playwright

    from monoscope.dashboard.render import Links, feature_page
    from monoscope.dashboard.static import write_dashboard
    from monoscope.features.store import FeatureStore
    from monoscope.features.synthetic import synthetic_store

    n = 2048 if a.quick else a.latents
    repeats = 1 if a.quick else a.repeats
    demo = FeatureStore(run / "analysis", sae_folder=run / "sae")
    tmp = Path(tempfile.mkdtemp(prefix="bench_dashboard_"))
    try:
        demo_index = write_dashboard(demo, tmp / "demo", progress=False)
        links = Links(feature=lambda j: f"{j}.html", home="../index.html")
        sample = random.Random(0).sample(range(demo.d_sae), min(100, demo.d_sae))
        html = statistics.mean(len(feature_page(demo, i, links).encode()) for i in sample)
        big = FeatureStore(synthetic_store(tmp / "store", n, top_k=2, quantile_examples=2))
        t0 = time.perf_counter()
        big_index = write_dashboard(big, tmp / "big", progress=False)
        write_s = time.perf_counter() - t0
        pick = big.list(sort="density", limit=1)[0]["id"]
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            open_ms(b, demo_index.as_uri(), 1)  # warm-up: the browser's first page
            idx_big, idx_demo = open_ms(b, big_index.as_uri(), repeats), open_ms(b, demo_index.as_uri(), repeats)
            feat = big_index.with_name("feature.html").as_uri() + f"#{pick}"
            feat_demo = demo_index.with_name("feature.html").as_uri() + f"#{sample[0]}"
            page_big, page_demo = open_ms(b, feat, repeats), open_ms(b, feat_demo, repeats)
            b.close()
        demo_bytes = folder_bytes(tmp / "demo")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rec = common.Recorder("dashboard", a)
    rec.figure(
        "dashboard size",
        demo_bytes / demo.d_sae,
        "bytes per feature",
        "server-rendered page per feature",
        html,
        d_sae=demo.d_sae,
        total_mb=round(demo_bytes / 2**20, 2),
    )
    rec.figure(
        f"index open, {n} features",
        idx_big,
        "ms",
        f"index of the demo's {demo.d_sae}",
        idx_demo,
        repeats=repeats,
        write_seconds=round(write_s, 1),
        synthetic=True,
    )
    rec.figure(
        f"feature page open, {n} features",
        page_big,
        "ms",
        f"a page of the demo's {demo.d_sae}",
        page_demo,
        repeats=repeats,
        synthetic=True,
    )


if __name__ == "__main__":
    main()
