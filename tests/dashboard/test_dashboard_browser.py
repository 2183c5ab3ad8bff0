"""The browser in a real headless Chromium (Debian's, driven by playwright): list → feature page → live text.

Asserts no console errors and no request leaving this machine. A screenshot is
saved under the test's tmp dir on failure. With CI=true a missing chromium fails.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        msg = f"{CHROMIUM} is missing: install Debian's chromium (make browser)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tiny_run):
    import uvicorn

    from monoscope.dashboard.server import create_app, open_browser_state

    store, live = open_browser_state(tiny_run[0])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(store, live, port=port)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    th.join(5)


class Watch:
    """Collects console errors and requests to anywhere but the allowed origin."""

    def __init__(self, page, allowed):
        self.errors, self.outside = [], []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if allowed(r.url) else self.outside.append(r.url))

    def check(self):
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.outside == [], f"requests left the machine: {self.outside}"


def run_page(browser, tmp_path, allowed, steps):
    page = browser.new_page()
    watch = Watch(page, allowed)
    try:
        steps(page)
        watch.check()
    except BaseException:
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")
        raise
    finally:
        page.close()


def local(url: str) -> bool:
    u = urlparse(url)
    return u.scheme in ("data", "about", "blob") or (
        u.scheme in ("http", "https") and u.hostname in ("127.0.0.1", "localhost")
    )


def test_server_list_feature_page_and_live_text(browser, server, tmp_path):
    base, store = server

    def steps(page):
        page.goto(base + "/")
        page.click("text=density")
        page.wait_for_url("**sort=density**")
        first = store.list(sort="density", limit=1)[0]["id"]
        assert page.locator("#feature-rows tr").count() == min(100, store.d_sae)
        page.locator("#feature-rows a").first.click()
        page.wait_for_url(f"**/feature/{first}")
        assert page.locator("#top-examples .ex").count() > 0
        assert page.locator("#act-hist svg rect").count() > 0
        page.goto(base + "/live")
        page.fill("#live-text", "def main():\n    return x + 1\n")
        page.click("#live-run")
        page.wait_for_selector("#live-tokens .tok.active", timeout=15000)
        assert page.locator("#live-tokens .tok").count() >= 8
        page.locator("#live-tokens .tok.active").first.click()
        link = page.locator("#live-features a.feature-link").first
        target = link.get_attribute("href")
        link.click()
        page.wait_for_url("**" + target)
        assert page.locator("h2").first.inner_text().startswith("feature #")

    run_page(browser, tmp_path, local, steps)


def on_disk(u: str) -> bool:
    return urlparse(u).scheme in ("file", "data", "about", "blob")


def test_static_dashboard_opens_from_disk_without_network(browser, tiny_run, tmp_path):
    index = tiny_run[0] / "dashboard" / "index.html"
    assert index.exists(), "the demo writes the dashboard"

    def steps(page):
        page.goto(index.as_uri())
        page.wait_for_selector("body[data-ready]")
        assert page.locator("#feature-rows tr").count() > 0
        page.click("button[data-sort=max_act]")
        assert "max_act" in page.inner_text("#page-info")
        page.locator("#feature-rows a").first.click()
        page.wait_for_selector("body[data-ready] #top-examples")
        assert page.url.startswith("file://") and "/feature.html#" in page.url
        assert page.locator("#top-examples .ex").count() > 0
        link = page.locator("#neighbours a").first  # another feature: same page, the hash changes
        target = link.get_attribute("href").split("#")[1]
        link.click()
        page.wait_for_function(f"document.querySelector('h2').textContent === 'feature #{target}'")
        page.goto(index.as_uri().replace("index.html", "feature.html#999999"))
        page.wait_for_selector("body[data-ready]")
        assert "not in this export" in page.inner_text("main")

    run_page(browser, tmp_path, on_disk, steps)


def test_static_pages_read_the_same_as_the_server(browser, server, tiny_run, tmp_path):
    """One renderer per side (JS on disk, Python on the server), checked to say the same thing."""
    base, store = server
    index = tiny_run[0] / "dashboard" / "index.html"
    alive = [r["id"] for r in store.list(sort="density", limit=3)]
    parts = ["h2", "h2 + p", "#act-hist h3", "#logits", "#neighbours", "#corr-features", "#neurons"]
    parts += ["#top-examples", "#quantiles"]

    def steps(page):
        for i in alive:
            page.goto(f"{base}/feature/{i}")
            theirs = [page.inner_text(p) for p in parts]
            page.goto(index.as_uri().replace("index.html", f"feature.html#{i}"))
            page.wait_for_selector("body[data-ready] #top-examples")
            ours = [page.inner_text(p) for p in parts]
            assert ours == theirs, i
            hist = "#act-hist svg rect"
            assert page.locator(hist).count() > 0

    run_page(browser, tmp_path, lambda u: local(u) or on_disk(u), steps)


def test_index_of_a_65536_latent_dictionary(browser, tmp_path):
    """The size real SAEs have: the index opens, sorts and pages, a page opens; the time is printed (bench/
    dashboard.py records it as a figure)."""
    from monoscope.dashboard.static import write_dashboard
    from monoscope.features.store import FeatureStore
    from monoscope.features.synthetic import synthetic_store

    n = 65_536
    store = FeatureStore(synthetic_store(tmp_path / "store", n, top_k=1, quantile_examples=1))
    index = write_dashboard(store, tmp_path / "dash", progress=False)
    densest = store.list(sort="density", limit=1)[0]["id"]

    def steps(page):
        t0 = time.perf_counter()
        page.goto(index.as_uri())
        page.wait_for_selector("body[data-ready]")
        print(f"index of {n} features drawn {time.perf_counter() - t0:.3f} s after navigation")
        assert page.locator("#feature-rows tr").count() == 100
        assert page.inner_text("#page-info").startswith(f"1–100 of {n}")
        page.click("button[data-sort=density]")
        assert page.locator("#feature-rows a").first.inner_text() == f"#{densest}"
        page.click("#next")
        assert page.inner_text("#page-info").startswith(f"101–200 of {n}")
        page.locator("#feature-rows a").last.click()
        page.wait_for_selector("body[data-ready] #top-examples .ex")

    run_page(browser, tmp_path, on_disk, steps)


def test_static_index_survives_a_hostile_label(browser, tiny_run, tmp_path):
    from dashboard_helpers import HOSTILE, hostile_store

    from monoscope.dashboard.static import write_dashboard

    index = write_dashboard(hostile_store(tiny_run, tmp_path), tmp_path / "dash", progress=False)

    def steps(page):
        page.goto(index.as_uri())
        page.wait_for_selector("body[data-ready]")
        assert page.title() == "features"
        assert page.locator("#feature-rows tr").count() > 0
        page.click("button[data-sort=max_act]")  # the list script ran on the parsed data
        assert "max_act" in page.inner_text("#page-info")
        page.click("button[data-sort=id]")
        assert page.locator("#feature-rows tr").first.inner_text().split("\t")[-1].strip() == HOSTILE.strip()

    run_page(browser, tmp_path, on_disk, steps)
