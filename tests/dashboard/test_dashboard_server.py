"""The browser's HTTP routes over the tiny run: pages, API, bad input."""

from __future__ import annotations

import pytest

from monoscope.dashboard.server import create_app, open_browser_state


@pytest.fixture(scope="module")
def client(tiny_run):
    from fastapi.testclient import TestClient

    store, live = open_browser_state(tiny_run[0])
    return TestClient(create_app(store, live)), store, live


def test_list_and_feature_pages(client):
    c, store, live = client
    r = c.get("/?sort=density")
    assert r.status_code == 200 and "feature-table" in r.text
    first = store.list(sort="density", limit=1)[0]["id"]
    assert f'href="/feature/{first}"' in r.text
    r = c.get(f"/feature/{first}")
    assert r.status_code == 200
    for panel in ("act-hist", "logits", "neighbours", "corr-features", "neurons", "top-examples", "quantiles"):
        assert f'id="{panel}"' in r.text
    assert "<svg" in r.text
    j = c.get(f"/api/feature/{first}").json()
    assert j["id"] == first and j["top"]


def test_bad_ids(client):
    c, store, live = client
    r = c.get(f"/feature/{store.d_sae}")
    assert r.status_code == 404 and "no feature" in r.text and "<html" in r.text
    assert c.get("/feature/-1").status_code == 404
    assert c.get("/feature/abc").status_code == 422
    assert c.get("/api/feature/1.5").status_code == 422
    assert c.get("/?sort=nonsense").status_code == 422


def test_static_files_and_traversal(client):
    c, store, live = client
    assert c.get("/static/app.js").status_code == 200
    assert c.get("/static/style.css").headers["content-type"].startswith("text/css")
    for bad in (
        "/static/..%2F..%2Fetc%2Fpasswd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/../server.py",
        "/static/",
        "/static/..%5C..%5Cpyproject.toml",
    ):
        assert c.get(bad).status_code == 404, bad


def test_search(client):
    c, store, live = client
    i = store.list(sort="density", limit=1)[0]["id"]
    e = store.top_examples(i)[0]
    peak = store.vocab[e["tokens"][e["col"] - e["start"]]]
    r = c.get("/api/search", params={"q": peak})
    assert any(h["feature"] == i for h in r.json())
    assert f'href="/feature/{i}"' in c.get("/search", params={"q": peak}).text


def test_live_activations_match_the_sae_and_chunk_long_text(client):
    c, store, live = client
    r = c.post("/api/activations", json={"text": "def main():\n    return 1\n"})
    assert r.status_code == 200
    toks = r.json()["tokens"]
    assert "".join(t["text"] for t in toks) == "def main():\n    return 1\n"
    assert any(t["features"] for t in toks)
    long = "x = 1\n" * (3 * live.n_ctx)  # several contexts' worth of tokens
    r = c.post("/api/activations", json={"text": long})
    assert r.status_code == 200 and r.json()["contexts"] > 1
    assert "".join(t["text"] for t in r.json()["tokens"]) == long
    r = c.post("/api/activations", json={"text": "a" * (live.max_chars + 1)})
    assert r.status_code == 413 and str(live.max_chars) in r.json()["detail"]
    assert c.post("/api/activations", json={"nope": 1}).status_code == 422
