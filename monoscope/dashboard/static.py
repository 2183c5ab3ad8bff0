"""The offline dashboard: an index and one page per feature, opened straight from disk with no network at all."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from monoscope.dashboard.render import Links, feature_page, static_index
from monoscope.errors import MonoscopeError
from monoscope.features.store import FeatureStore
from monoscope.io import write_json, write_text

MARK = "monoscope_dashboard.json"


def write_dashboard(
    store: FeatureStore,
    out: Path | str,
    overwrite: bool = False,
    progress: bool = True,
    features: list[int] | None = None,
) -> Path:
    """Write OUT/index.html and OUT/features/<i>.html; every page inlines its CSS, JS and SVG plots."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARK).exists() and not overwrite:
        raise MonoscopeError(
            f"{out} exists and was not made by monoscope dashboard; pass --overwrite or choose another --out"
        )
    (out / "features").mkdir(parents=True, exist_ok=True)
    index_links = Links(feature=lambda j: f"features/{j}.html", home="index.html")
    page_links = Links(feature=lambda j: f"{j}.html", home="../index.html")
    ids = range(store.d_sae) if features is None else features
    for i in tqdm(ids, desc="dashboard", disable=not progress):
        html = feature_page(store, i, page_links)
        if html is None:
            raise MonoscopeError(f"feature {i} is not in the store (it has {store.d_sae})")
        (out / "features" / f"{i}.html").write_text(html, encoding="utf-8")
    write_text(out / "index.html", static_index(store, index_links))
    write_json(out / MARK, {"store": str(store.path.resolve()), "sae_hash": store.meta["sae_hash"], "pages": len(ids)})
    return out / "index.html"
