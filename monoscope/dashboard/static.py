"""The offline dashboard: opens straight from disk with no network, and grows by a few KB per feature.

    OUT/index.html, OUT/feature.html       two pages, whatever the dictionary size (feature.html#<i>)
    OUT/assets/style.css, app.js           the shared CSS and the renderer, written once
    OUT/data/meta.js                       vocabulary, store facts, which features were exported
    OUT/data/index.js                      the list: id, density, max activation, top tokens
    OUT/data/f_<k>.js                      features k·SHARD … (k+1)·SHARD-1: panels and examples

A page opened from disk may load scripts but not fetch files, so every data file
is a script that hands `monoscope.data(name, "<base64 of gzipped JSON>")` to the
renderer, which unpacks it with the browser's own DecompressionStream. A feature
page loads the assets, meta.js and the one shard holding its feature; the index
loads index.js and draws 100 rows at a time. Records are compact: per-token
activations as integers in thousandths of the feature's max activation, pairs
flattened, histogram edges given by their range.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from html import escape
from pathlib import Path

from tqdm.auto import tqdm

from monoscope.dashboard.assets import CSS, STATIC_JS
from monoscope.dashboard.render import Links, layout
from monoscope.errors import MonoscopeError
from monoscope.features.store import FeatureStore
from monoscope.io import write_json, write_text

MARK = "monoscope_dashboard.json"
SHARD = 64  # features per data file: a page loads one (~200 KB), a 65,536-latent SAE writes 1,024
ACT_LEVELS = 1000  # per-token activations are stored as round(act / max_act * ACT_LEVELS)
_OURS = re.compile(r"^(index\.html|feature\.html|assets/(style\.css|app\.js)|data/(meta|index|f_\d+)\.js)$")


def select_features(store: FeatureStore, spec: str | list[int] | None) -> list[int] | None:
    """None (all) for None/'all'; the features that fired for 'live'; else ids like '3,10-20' or a list."""
    if spec is None or spec == "all":
        return None
    if spec == "live":
        return [r["id"] for r in store.list(limit=store.d_sae, alive_only=True)]
    ids: set[int] = set()
    parts = spec if isinstance(spec, list) else str(spec).split(",")
    for part in parts:
        p = str(part).strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", p)
        if not m:
            raise MonoscopeError(f"--features takes 'all', 'live' or ids and ranges like 3,10-20; got {p!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a or b >= store.d_sae:
            raise MonoscopeError(f"feature range {p} is outside 0..{store.d_sae - 1}")
        ids.update(range(a, b + 1))
    if not ids:
        raise MonoscopeError("--features selects no feature")
    return sorted(ids)


def pack(name: str, obj) -> str:
    """A data file: a script handing the gzipped JSON of `obj` (base64) to the page's renderer."""
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    b64 = base64.b64encode(gzip.compress(raw, 6, mtime=0)).decode("ascii")  # level 9: 1% smaller, 2.3x slower
    return f'monoscope.data("{name}","{b64}");\n'


def _pairs(pairs: list, digits: int = 4) -> list:
    return [x for j, v in pairs for x in (int(j), round(float(v), digits))]


def _sig(v: float, digits: int = 4) -> float:
    return float(f"{v:.{digits}g}")


def _example(e: dict, max_act: float) -> list:
    scale = ACT_LEVELS / max_act if max_act > 0 else 0.0
    acts = [0 if a is None or a != a or a <= 0 else round(a * scale) for a in e["acts"]]
    rec = [_sig(e["act"]), e["row"], e["col"], e["doc"], e["pos"], e["start"], e["tokens"], acts]
    if e.get("loss"):
        rec.append([round(x, 4) if x is not None else 0 for x in e["loss"]])
    return rec


def feature_record(store: FeatureStore, i: int) -> dict:
    """Everything a feature page shows, compactly (the renderer in assets.STATIC_JS reads exactly this)."""
    f = store.feature(i)
    if f is None:
        raise MonoscopeError(f"feature {i} is not in the store (it has {store.d_sae})")
    top, quant = store.top_examples(i), store.quantile_examples(i)
    p, m = f["panels"], f["max_act"]
    h = p["hist"]
    rec = {
        "d": f["density"],
        "m": m,
        "a": f["mean_act"],
        "n": f["n_active"],
        "h": [h["edges"][-1] if h["counts"] else 0, h["counts"]],
        "nb": _pairs(p["neighbours"]),
        "cf": _pairs(p["corr_features"]),
        "ne": _pairs(p["neurons"]),
        "cn": _pairs(p["corr_neurons"]),
        "t": [_example(e, m) for e in top],
        "q": [[e["bin"], *_example(e, m)] for e in quant],
    }
    lg = p.get("logits")
    if lg:
        edges = lg["hist"]["edges"]
        rec["l"] = [_pairs(lg["top"]), _pairs(lg["bottom"]), edges[0], edges[-1], lg["hist"]["counts"]]
    return rec


def _meta(store: FeatureStore, ids: list[int] | None) -> dict:
    m = store.meta
    doms = m.get("domains") or []
    names = sorted(set(doms))
    where = {d: k for k, d in enumerate(names)}
    return {
        "d_sae": store.d_sae,
        "shard": SHARD,
        "act_levels": ACT_LEVELS,
        "features": ids,  # None: every feature
        "n_tokens": m["n_tokens"],
        "split": m["split"],
        "sae_path": m["sae_path"],
        "hook": m["hook"],
        "corr_tokens": m.get("corr_tokens"),
        "logit_note": m.get("logit_effects_note") or "not available for this hook",
        "quantile_bins": m["config"]["quantile_bins"],
        "domain_names": names,
        "doc_domain": [where[d] for d in doms],
        "vocab": store.vocab,
    }


def _shell(title: str, body: str) -> str:
    """A page whose content assets/app.js draws from the data files (it knows the page by its elements)."""
    links = Links(feature=lambda j: f"feature.html#{j}", home="index.html", inline_assets=False, assets="assets/")
    return layout(title, body, links, scripts=STATIC_JS)


def _clear_ours(out: Path) -> None:
    """Remove the files an earlier `monoscope dashboard` wrote here (this layout's and the old one page per
    feature), so a smaller export leaves no stale pages; anything else in the folder is left alone."""
    for p in out.rglob("*"):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and (_OURS.match(rel) or re.fullmatch(r"features/\d+\.html", rel)):
            p.unlink()
    old = out / "features"
    if old.is_dir() and not any(old.iterdir()):
        old.rmdir()


def write_dashboard(
    store: FeatureStore,
    out: Path | str,
    overwrite: bool = False,
    progress: bool = True,
    features: str | list[int] | None = None,
) -> Path:
    """Write the offline dashboard of `store` into OUT (every feature, or `features`: 'live' or ids); returns the
    index page."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARK).exists() and not overwrite:
        raise MonoscopeError(
            f"{out} exists and was not made by monoscope dashboard; pass --overwrite or choose another --out"
        )
    ids = select_features(store, features)
    if out.exists():
        _clear_ours(out)
    chosen = list(range(store.d_sae)) if ids is None else ids
    write_text(out / "assets" / "style.css", CSS)
    write_text(out / "assets" / "app.js", STATIC_JS)
    write_text(out / "data" / "meta.js", pack("meta", _meta(store, ids)))
    keep = set(chosen)
    rows = [[r["id"], r["density"], r["max_act"], r["label"] or ""] for r in store.list(limit=store.d_sae)]
    write_text(out / "data" / "index.js", pack("index", [r for r in rows if r[0] in keep]))
    shards: dict[int, list[int]] = {}
    for i in chosen:
        shards.setdefault(i // SHARD, []).append(i)
    bar = tqdm(total=len(chosen), desc="dashboard", unit="feature", disable=not progress)
    for k, members in shards.items():
        recs = {i: feature_record(store, i) for i in members}
        write_text(out / "data" / f"f_{k:05d}.js", pack(f"f_{k:05d}", recs))
        bar.update(len(members))
    bar.close()
    m = store.meta
    n = len(chosen)
    index_body = (
        f"<h2>{n} features{'' if ids is None else f' (of {store.d_sae})'}</h2>"
        f'<p class="muted">SAE {escape(m["sae_path"])} · hook {escape(m["hook"])} · {m["n_tokens"]} tokens analysed</p>'
        '<table id="feature-table"><thead><tr><th><button data-sort="id">index</button></th>'
        '<th><button data-sort="density">density</button></th>'
        '<th><button data-sort="max_act">max activation</button></th>'
        '<th>top tokens</th></tr></thead><tbody id="feature-rows"></tbody></table>'
        '<p class="pager"><button id="prev">previous</button> <span id="page-info">loading…</span> '
        '<button id="next">next</button></p>'
    )
    write_text(out / "index.html", _shell("features", index_body))
    write_text(out / "feature.html", _shell("feature", '<div id="feature"><p class="muted">loading…</p></div>'))
    write_json(out / MARK, {"store": str(store.path.resolve()), "sae_hash": m["sae_hash"], "features": n})
    return out / "index.html"
