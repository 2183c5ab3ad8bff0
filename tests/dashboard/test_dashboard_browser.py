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


def test_static_dashboard_opens_from_disk_without_network(browser, tiny_run, tmp_path):
    index = tiny_run[0] / "dashboard" / "index.html"
    assert index.exists(), "the demo writes the dashboard"

    def steps(page):
        page.goto(index.as_uri())
        assert page.locator("#feature-rows tr").count() > 0
        page.click("button[data-sort=max_act]")
        assert "max_act" in page.inner_text("#page-info")
        page.locator("#feature-rows a").first.click()
        page.wait_for_load_state()
        assert page.url.startswith("file://") and "/features/" in page.url
        assert page.locator("#top-examples").count() == 1

    run_page(browser, tmp_path, lambda u: urlparse(u).scheme in ("file", "data", "about"), steps)


def test_static_index_survives_a_hostile_label(browser, tiny_run, tmp_path):
    from dashboard_helpers import HOSTILE, hostile_store

    from monoscope.dashboard.static import write_dashboard

    index = write_dashboard(hostile_store(tiny_run, tmp_path), tmp_path / "dash", progress=False)

    def steps(page):
        page.goto(index.as_uri())
        assert page.title() == "features"
        assert page.locator("#feature-rows tr").count() > 0
        page.click("button[data-sort=max_act]")  # the list script ran on the parsed data
        assert "max_act" in page.inner_text("#page-info")
        page.click("button[data-sort=id]")
        assert page.locator("#feature-rows tr").first.inner_text().split("\t")[-1].strip() == HOSTILE.strip()

    run_page(browser, tmp_path, lambda u: urlparse(u).scheme in ("file", "data", "about"), steps)
