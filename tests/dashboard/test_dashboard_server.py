"""The browser's HTTP routes over the tiny run: pages, API, bad input."""

from __future__ import annotations

import pytest

from monoscope.dashboard.server import create_app, open_browser_state


@pytest.fixture(scope="module")
def client(tiny_run):
    from fastapi.testclient import TestClient

    store, live = open_browser_state(tiny_run[0])
    return TestClient(create_app(store, live, port=8000), base_url="http://127.0.0.1:8000"), store, live


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


# ---- hostile requests: each gets a 4xx answer, never a 500, and never data for a foreign Host ----


def test_foreign_host_is_refused_dns_rebinding(client):
    c, store, live = client
    for host in ("rebind.attacker.example", "rebind.attacker.example:8000", "127.0.0.1:9999", "127.0.0.1", ""):
        r = c.get("/api/features?limit=1", headers={"Host": host})
        assert r.status_code == 400, host
        assert "untrusted Host" in r.text and "density" not in r.text
        assert r.headers["x-frame-options"] == "DENY"
    r = c.post("/api/activations", json={"text": "def f"}, headers={"Host": "rebind.attacker.example:8000"})
    assert r.status_code == 400
    for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST:8000", "[::1]:8000"):
        assert c.get("/api/features?limit=1", headers={"Host": host}).status_code == 200, host


def test_allowed_extra_host_and_port_80():
    from monoscope.dashboard.server import trusted_hosts

    assert trusted_hosts(8123, ("box.lan",)) >= {"127.0.0.1:8123", "localhost:8123", "[::1]:8123", "box.lan:8123"}
    assert "127.0.0.1" not in trusted_hosts(8123) and "127.0.0.1" in trusted_hosts(80)


def test_security_headers_on_every_answer(client):
    c, store, live = client
    for path in ("/", "/feature/0", "/live", "/static/app.js", "/api/features", "/feature/999999"):
        h = c.get(path).headers
        assert h["x-content-type-options"] == "nosniff", path
        assert h["x-frame-options"] == "DENY"
        csp = h["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp


def test_huge_integers_are_422_not_500(client):
    c, store, live = client
    for path in ("/api/features?offset=9223372036854775808", "/?offset=9223372036854775808", "/api/features?offset=-1"):
        r = c.get(path)
        assert r.status_code == 422, path
    assert c.get("/feature/99999999999999999999999").status_code == 404
    assert c.get("/api/features?limit=99999999999999999999999").status_code == 200


def test_lone_surrogates_are_422(client):
    c, store, live = client
    r = c.post("/api/activations", content=b'{"text": "ab\\ud800cd"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "surrogate" in r.json()["detail"]
    r = c.get("/api/search", params={"q": "\udcff".encode("utf-8", "surrogatepass")})
    assert r.status_code == 200
    assert c.get("/search?q=%ED%A0%80").status_code == 200  # a surrogate's bytes decode to U+FFFD


def test_live_endpoint_refuses_cross_site_requests(client):
    c, store, live = client
    ok = {"text": "def f"}
    assert c.post("/api/activations", json=ok, headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        r = c.post("/api/activations", json=ok, headers={"Origin": origin})
        assert r.status_code == 403, origin
    # a cross-site form or a no-preflight fetch can only send text/plain or form bodies
    r = c.post("/api/activations", content=b'{"text": "def f"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    for body in (b"not json", b'["text"]', b'{"text": 5}', b"\xff\xfe"):
        r = c.post("/api/activations", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, body


def _asgi_post(app, chunks, headers):
    """POST /api/activations straight through ASGI, feeding the body piece by piece; returns
    (status, bytes of body the app pulled)."""
    import asyncio

    pulled, sent = [0], []
    it = iter(chunks)

    async def receive():
        piece = next(it, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled[0] += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(msg):
        sent.append(msg)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/activations",
        "raw_path": b"/api/activations",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), pulled[0]


def test_body_cap_is_enforced_while_streaming(client):
    from monoscope.dashboard.server import max_body_bytes

    c, store, live = client
    app = c.app
    cap = max_body_bytes(live.max_chars)
    piece = b"a" * 65536
    total = 50 * 2**20  # 50 MB, chunked (no Content-Length)

    def body():
        yield b'{"text": "'
        for _ in range(total // len(piece)):
            yield piece
        yield b'"}'

    status, pulled = _asgi_post(app, body(), [])
    assert status == 413
    assert pulled <= cap + len(piece), f"read {pulled} bytes of a 50 MB body before refusing it (cap {cap})"
    # a declared length over the cap is refused before any byte is read
    status, pulled = _asgi_post(app, body(), [(b"content-length", str(total).encode())])
    assert status == 413 and pulled == 0
    # a body under the cap in many small pieces is read whole
    text = "x = 1\n" * 50
    raw = ('{"text": ' + __import__("json").dumps(text) + "}").encode()
    status, pulled = _asgi_post(app, (raw[i : i + 7] for i in range(0, len(raw), 7)), [])
    assert status == 200 and pulled == len(raw)


def test_cli_serve_trusts_its_own_port_and_allowed_hosts(tiny_run):
    import http.client
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "monoscope", "serve", "--sae", str(tiny_run[0]), "--port", str(port), "--no-live"]
    proc = subprocess.Popen([*cmd, "--allow-host", "box.lan"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:

        def get(host):
            for _ in range(300):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("GET", "/api/features?limit=1", headers={"Host": host})
                    return c.getresponse().status
                except ConnectionRefusedError:
                    assert proc.poll() is None, proc.stderr.read().decode()
                    time.sleep(0.05)
            raise AssertionError("monoscope serve did not start")

        assert get(f"127.0.0.1:{port}") == 200
        assert get(f"box.lan:{port}") == 200
        assert get(f"evil.example:{port}") == 400
        assert get("127.0.0.1:8000") == 400  # the default port is not this server's
    finally:
        proc.terminate()
        proc.wait(10)
