"""The local feature browser: FastAPI over the feature store, plus live text → active features.

Bound to 127.0.0.1 unless told otherwise. Pages are rendered per request from
indexed SQLite reads; the model and SAE are loaded once for the live page.
"""

import threading
from pathlib import Path

from monoscope.dashboard.assets import CSS, LIVE_JS
from monoscope.dashboard.render import Links, feature_page, live_page, not_found_page, search_page, server_index
from monoscope.errors import MonoscopeError
from monoscope.features.live import MAX_CHARS, LiveModel, TextTooLong
from monoscope.features.store import SORTS, FeatureStore

STATIC = {"style.css": (CSS, "text/css"), "app.js": (LIVE_JS, "application/javascript")}


def create_app(store: FeatureStore, live: LiveModel | None = None):
    try:
        from fastapi import FastAPI, HTTPException, Request
        from fastapi.responses import HTMLResponse, JSONResponse, Response
        from pydantic import BaseModel
    except ImportError as e:
        raise MonoscopeError(f"the browser needs FastAPI and uvicorn: pip install 'monoscope[serve]' ({e})") from None

    links = Links(
        feature=lambda j: f"/feature/{j}",
        home="/",
        search="/search",
        live="/live" if live else None,
        inline_assets=False,
    )
    app = FastAPI(title="monoscope", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()  # one live forward pass at a time: torch already uses every core

    class TextIn(BaseModel):
        text: str

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
    def index(sort: str = "index", desc: int | None = None, offset: int = 0, limit: int = 100):
        if sort not in SORTS:
            raise HTTPException(422, f"sort must be one of {', '.join(SORTS)}")
        d = (sort != "index") if desc is None else bool(desc)
        return server_index(store, links, sort, d, max(0, offset), max(1, min(limit, 1000)))

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
    def api_features(sort: str = "index", desc: int | None = None, offset: int = 0, limit: int = 100):
        if sort not in SORTS:
            raise HTTPException(422, f"sort must be one of {', '.join(SORTS)}")
        return store.list(
            sort=sort,
            limit=max(1, min(limit, 1000)),
            offset=max(0, offset),
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

        @app.post("/api/activations")
        def activations(body: TextIn):
            try:
                with lock:
                    return live.activations(body.text)
            except TextTooLong as e:
                raise HTTPException(413, str(e)) from None

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC:
            raise HTTPException(404, f"no static file {name!r}")
        text, media = STATIC[name]
        return Response(text, media_type=media, headers={"Cache-Control": "max-age=3600"})

    return app


def open_browser_state(
    sae: Path | str, store_path: Path | str | None = None, live: bool = True, device: str = "cpu"
) -> tuple[FeatureStore, LiveModel | None]:
    """The store for an SAE (refused if built for other weights) and, with `live`, the model and SAE."""
    from monoscope.features.analysis import default_out
    from monoscope.features.live import live_model
    from monoscope.run import load_run, sae_dir

    sdir = sae_dir(sae)
    if live:
        run = load_run(sae, device=device)
        path = Path(store_path) if store_path else default_out(run)
        return FeatureStore(path, sae_folder=sdir), live_model(run)
    path = Path(store_path) if store_path else (sdir.parent if sdir.name == "sae" else sdir) / "analysis"
    return FeatureStore(path, sae_folder=sdir), None


def serve(app, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["create_app", "open_browser_state", "serve", "MAX_CHARS"]
