"""The offline dashboard: self-contained files (no network, no CDN), every feature's data, compact, subsets,
refusals, and nothing of the user's removed."""

from __future__ import annotations

import base64
import gzip
import json
import re

import pytest
from dashboard_helpers import HOSTILE, hostile_store

from monoscope.dashboard.static import SHARD, feature_record, write_dashboard
from monoscope.errors import MonoscopeError
from monoscope.features.store import FeatureStore


def unpack(path):
    """The JSON a data file hands to the page (monoscope.data(name, base64 of gzip))."""
    name, b64 = re.fullmatch(r'monoscope\.data\("([\w]+)","([A-Za-z0-9+/=]*)"\);\n', path.read_text()).groups()
    assert name == path.stem
    return json.loads(gzip.decompress(base64.b64decode(b64)))


@pytest.fixture(scope="module")
def store(tiny_run):
    return FeatureStore(tiny_run[0] / "analysis", sae_folder=tiny_run[0] / "sae")


def test_files_are_self_contained_and_hold_every_feature(store, tmp_path):
    index = write_dashboard(store, tmp_path / "dash", progress=False)
    files = [p for p in (tmp_path / "dash").rglob("*") if p.is_file()]
    for p in files:
        text = p.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), p
        assert "@import" not in text and "url(" not in text and "fetch(" not in text, p
    assert index.name == "index.html" and (tmp_path / "dash" / "feature.html").exists()
    rows = unpack(tmp_path / "dash" / "data" / "index.js")
    assert sorted(r[0] for r in rows) == list(range(store.d_sae))
    meta = unpack(tmp_path / "dash" / "data" / "meta.js")
    assert meta["d_sae"] == store.d_sae and meta["features"] is None and meta["vocab"] == store.vocab
    shards = sorted((tmp_path / "dash" / "data").glob("f_*.js"))
    assert len(shards) == -(-store.d_sae // SHARD)
    seen = {}
    for p in shards:
        for k, rec in unpack(p).items():
            assert int(k) // SHARD == int(p.stem[2:])
            seen[int(k)] = rec
    assert sorted(seen) == list(range(store.d_sae))
    i = max(range(store.d_sae), key=lambda j: store.feature(j)["n_active"])
    rec, top = seen[i], store.top_examples(i)
    assert rec == json.loads(json.dumps(feature_record(store, i)))
    assert [e[6] for e in rec["t"]] == [e["tokens"] for e in top] and len(rec["t"]) > 0
    assert rec["m"] == store.feature(i)["max_act"]
    levels = meta["act_levels"]
    for e, ex in zip(rec["t"], top):  # activations kept to a thousandth of the feature's max
        assert all(abs(q / levels * rec["m"] - max(a, 0)) <= rec["m"] / levels for q, a in zip(e[7], ex["acts"]))


def test_a_few_kb_per_feature(store, tmp_path):
    write_dashboard(store, tmp_path / "dash", progress=False)
    data = sum(p.stat().st_size for p in (tmp_path / "dash" / "data").glob("f_*.js"))
    examples = sum(len(store.top_examples(i)) + len(store.quantile_examples(i)) for i in range(store.d_sae))
    assert data / store.d_sae <= 5 * 1024
    assert data / max(examples, 1) <= 120  # bytes per example window, panels included


def test_subsets_and_stale_files(store, tmp_path):
    out = tmp_path / "dash"
    write_dashboard(store, out, progress=False)
    (out / "notes.txt").write_text("mine")
    (out / "features").mkdir()
    (out / "features" / "3.html").write_text("an old one-page-per-feature export")
    write_dashboard(store, out, progress=False, features="0-2,5")
    assert unpack(out / "data" / "meta.js")["features"] == [0, 1, 2, 5]
    assert [r[0] for r in unpack(out / "data" / "index.js")] == [0, 1, 2, 5]
    assert [p.name for p in sorted((out / "data").glob("f_*.js"))] == ["f_00000.js"]
    assert sorted(unpack(out / "data" / "f_00000.js")) == ["0", "1", "2", "5"]
    assert (out / "notes.txt").read_text() == "mine" and not (out / "features").exists()
    live = write_dashboard(store, tmp_path / "live", progress=False, features="live")
    ids = [r[0] for r in unpack(live.parent / "data" / "index.js")]
    assert ids == [r["id"] for r in store.list(limit=store.d_sae, alive_only=True)] and ids
    for bad in ("7-3", "abc", f"0-{store.d_sae}", ","):
        with pytest.raises(MonoscopeError, match="--features|outside|no feature"):
            write_dashboard(store, tmp_path / "bad", progress=False, features=bad)


def test_refuses_a_foreign_folder(store, tmp_path):
    (tmp_path / "mine.txt").write_text("user file")
    with pytest.raises(MonoscopeError, match="not made by monoscope dashboard"):
        write_dashboard(store, tmp_path, progress=False)
    assert (tmp_path / "mine.txt").read_text() == "user file"


def test_data_is_inert_whatever_the_labels_hold(tiny_run, tmp_path):
    """Corpus text reaches the pages only as base64 inside a JS string (nothing an HTML or JS parser can end
    early), and comes back exactly; the renderer escapes it when it draws (the browser test checks that)."""
    store = hostile_store(tiny_run, tmp_path)
    index = write_dashboard(store, tmp_path / "dash", progress=False)
    assert "<!--" not in index.read_text() and "owned" not in index.read_text()
    for p in (tmp_path / "dash" / "data").glob("*.js"):
        assert re.fullmatch(r'monoscope\.data\("\w+","[A-Za-z0-9+/=]*"\);\n', p.read_text()), p
    assert unpack(tmp_path / "dash" / "data" / "index.js")[0][3] == HOSTILE
