"""The local feature browser: FastAPI over the feature store, plus live text → active features.

Bound to 127.0.0.1 unless told otherwise. Pages are rendered per request from
indexed SQLite reads; the model and SAE are loaded once for the live page.

A page on any other site can make the user's browser send requests here, so
the server trusts only what a local page sends: a `Host` header naming this
machine's loopback address with this port (anything else is DNS rebinding),
no foreign `Origin` on the live endpoint, a JSON body read in pieces and cut
off at a size cap, and headers that keep its pages out of other sites' frames
and scripts. SECURITY.md says what it exposes and to whom.
"""

import json
import sys
import threading
from pathlib import Path

from monoscope.dashboard.assets import CSS, LIVE_JS
from monoscope.dashboard.render import Links, feature_page, live_page, not_found_page, search_page, server_index
from monoscope.errors import MonoscopeError
from monoscope.features.live import MAX_CHARS, LiveModel, TextTooLong
from monoscope.features.store import SORTS, FeatureStore

STATIC = {"style.css": (CSS, "text/css"), "app.js": (LIVE_JS, "application/javascript")}
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
MAX_OFFSET = 2**31 - 1  # list offsets beyond any store; SQLite itself overflows at 2**63
# The pages use inline style attributes (activation colours) and no inline script.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}


def max_body_bytes(max_chars: int) -> int:
    """The largest JSON body a text of `max_chars` characters can need: 12 bytes per character
    (an astral character written as two \\uXXXX escapes) plus room for the object around it."""
    return 12 * max_chars + 1024


def trusted_hosts(port: int, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Host header values that name this server: loopback names (and `extra`) with the port;
    browsers leave the port out only for port 80."""
    names = [n.lower() for n in (*LOOPBACK, *extra)]
    return frozenset([f"{n}:{port}" for n in names] + (names if port == 80 else []))


class Guard:
    """ASGI middleware: answers 400 to a request whose Host is not this server's (DNS rebinding),
    and adds the security headers to every response."""

    def __init__(self, app, hosts: frozenset[str]):
        self.app, self.hosts = app, hosts
        self.extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = next((v for k, v in scope["headers"] if k == b"host"), b"").decode("latin1").lower()

        async def send_secured(msg):
            if msg["type"] == "http.response.start":
                msg = {**msg, "headers": [*msg.get("headers", []), *self.extra]}
            await send(msg)

        if host not in self.hosts:
            body = f"untrusted Host header {host[:100]!r}: this server answers only to {sorted(self.hosts)[0]}"
            await send_secured(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            return await send({"type": "http.response.body", "body": body.encode()})
        return await self.app(scope, receive, send_secured)


def create_app(store: FeatureStore, live: LiveModel | None = None, port: int = 8000, hosts: tuple[str, ...] = ()):
    """The browser app; it answers only requests addressed to a loopback name (or one of `hosts`) at `port`."""
    try:
        from fastapi import FastAPI, HTTPException, Query, Request
        from fastapi.responses import HTMLResponse, JSONResponse, Response
        from starlette.concurrency import run_in_threadpool
    except ImportError as e:
        raise MonoscopeError(f"the browser needs FastAPI and uvicorn: pip install 'monoscope[serve]' ({e})") from None
    allowed = trusted_hosts(port, hosts)
    origins = {f"http://{h}" for h in allowed}

    links = Links(
        feature=lambda j: f"/feature/{j}",
        home="/",
        search="/search",
        live="/live" if live else None,
        inline_assets=False,
    )
    app = FastAPI(title="monoscope", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()  # one live forward pass at a time: torch already uses every core
    offset_q = Query(0, ge=0, le=MAX_OFFSET)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return HTMLResponse(
            not_found_page(str(exc.detail), links) if exc.status_code == 404 else str(exc.detail),
            status_code=exc.status_code,
        )

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def route_error(request: Request, exc: StarletteHTTPException):
        return await http_error(request, HTTPException(exc.status_code, exc.detail))

    def _feature_or_404(i: int) -> None:
        if not 0 <= i < store.d_sae:
            raise HTTPException(404, f"no feature {i}: this SAE has features 0 to {store.d_sae - 1}")

    @app.get("/", response_class=HTMLResponse)
    def index(sort: str = "index", desc: int | None = None, offset: int = offset_q, limit: int = 100):
        if sort not in SORTS:
            raise HTTPException(422, f"sort must be one of {', '.join(SORTS)}")
        d = (sort != "index") if desc is None else bool(desc)
        return server_index(store, links, sort, d, offset, max(1, min(limit, 1000)))

    @app.get("/feature/{i}", response_class=HTMLResponse)
    def feature(i: int):
        _feature_or_404(i)
        html = feature_page(store, i, links)
        if html is None:
            raise HTTPException(404, f"no feature {i}")
        return html

    @app.get("/search", response_class=HTMLResponse)
    def search(q: str = ""):
        return search_page(store, q[:200], links)

    @app.get("/api/features")
    def api_features(sort: str = "index", desc: int | None = None, offset: int = offset_q, limit: int = 100):
        if sort not in SORTS:
            raise HTTPException(422, f"sort must be one of {', '.join(SORTS)}")
        return store.list(
            sort=sort,
            limit=max(1, min(limit, 1000)),
            offset=offset,
            descending=None if desc is None else bool(desc),
        )

    @app.get("/api/feature/{i}")
    def api_feature(i: int):
        _feature_or_404(i)
        return {**store.feature(i), "top": store.top_examples(i), "quantile": store.quantile_examples(i)}

    @app.get("/api/search")
    def api_search(q: str):
        return store.search_token(q[:200])

    if live is not None:

        @app.get("/live", response_class=HTMLResponse)
        def live_text():
            return live_page(store, links, live.max_chars)

        cap = max_body_bytes(live.max_chars)

        def run_live(text: str) -> dict:
            with lock:
                return live.activations(text)

        @app.post("/api/activations")
        async def activations(request: Request):
            origin = request.headers.get("origin")
            if origin is not None and origin.lower() not in origins:
                raise HTTPException(403, f"requests from {origin[:100]!r} are refused; open the page from this server")
            if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                raise HTTPException(415, 'send JSON: Content-Type application/json, body {"text": "..."}')
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise HTTPException(413, f"body of {declared} bytes; the limit is {cap} ({live.max_chars} characters)")
            raw = bytearray()
            async for piece in request.stream():  # read in pieces, stop at the cap: memory stays bounded
                raw += piece
                if len(raw) > cap:
                    raise HTTPException(413, f"body over {cap} bytes; the limit is {live.max_chars} characters")
            text = _text_field(bytes(raw))
            try:
                return await run_in_threadpool(run_live, text)
            except TextTooLong as e:
                raise HTTPException(413, str(e)) from None

        def _text_field(raw: bytes) -> str:
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise HTTPException(422, f"body is not JSON: {e}") from None
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                raise HTTPException(422, 'expected a JSON object {"text": "..."}')
            text = body["text"]
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                msg = "text holds a lone UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode"
                raise HTTPException(422, msg) from None
            return text

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC:
            raise HTTPException(404, f"no static file {name!r}")
        text, media = STATIC[name]
        return Response(text, media_type=media, headers={"Cache-Control": "max-age=3600"})

    return Guard(app, allowed)


def open_browser_state(
    sae: Path | str,
    store_path: Path | str | None = None,
    live: bool = True,
    device: str = "cpu",
    model: Path | str | None = None,
    data: Path | str | None = None,
) -> tuple[FeatureStore, LiveModel | None]:
    """The store for an SAE (refused if built for other weights) and, with `live`, the model and SAE."""
    from monoscope.features.analysis import default_out
    from monoscope.features.live import live_model
    from monoscope.run_folder import load_run, sae_dir

    sdir = sae_dir(sae)
    if live:
        run = load_run(sae, model, data, device=device)
        path = Path(store_path) if store_path else default_out(run)
        return FeatureStore(path, sae_folder=sdir), live_model(run)
    path = Path(store_path) if store_path else (sdir.parent if sdir.name == "sae" else sdir) / "analysis"
    return FeatureStore(path, sae_folder=sdir), None


def serve(
    store: FeatureStore,
    live: LiveModel | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_hosts: tuple[str, ...] = (),
) -> None:
    """Run the browser until Ctrl-C. Bound to `host`; it answers requests addressed to a loopback name,
    to `host` itself when that is one interface, and to `allow_hosts`, each with `port`."""
    import uvicorn

    name = f"[{host}]" if ":" in host else host  # how a browser writes an IPv6 address in a Host header
    wildcard = host in ("0.0.0.0", "::")
    hosts = tuple(allow_hosts) + ((name,) if name not in LOOPBACK and not wildcard else ())
    app = create_app(store, live, port=port, hosts=hosts)
    if name not in LOOPBACK:
        print(
            f"monoscope: warning: bound to {host}: anyone who can reach port {port} can read the corpus snippets "
            "and run the model (see SECURITY.md)",
            file=sys.stderr,
        )
    url = f"http://{'127.0.0.1' if wildcard else name}:{port}/"
    print(f"monoscope browser on {url}  ({store.d_sae} features; Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["create_app", "open_browser_state", "serve", "trusted_hosts", "MAX_CHARS"]
