"""The feature store's query API on the tiny run's analysis (written by the demo)."""

from __future__ import annotations

import sqlite3

import pytest

from monoscope.errors import MonoscopeError
from monoscope.features.store import FeatureStore


@pytest.fixture(scope="module")
def store(tiny_run):
    return FeatureStore(tiny_run[0] / "analysis", sae_folder=tiny_run[0] / "sae")


def test_list_sorts_and_pages(store):
    by_density = store.list(sort="density", limit=store.d_sae)
    assert len(by_density) == store.d_sae
    d = [r["density"] for r in by_density]
    assert d == sorted(d, reverse=True)
    m = [r["max_act"] for r in store.list(sort="max_act", limit=store.d_sae, descending=False)]
    assert m == sorted(m)
    page2 = store.list(sort="index", limit=10, offset=10)
    assert [r["id"] for r in page2] == list(range(10, 20))
    with pytest.raises(MonoscopeError, match="unknown sort"):
        store.list(sort="id; DROP TABLE features")


def test_feature_and_examples(store):
    top = store.list(sort="density", limit=1)[0]
    f = store.feature(top["id"])
    assert set(f["panels"]) >= {"hist", "logits", "neighbours", "neurons", "corr_neurons", "corr_features"}
    ex = store.top_examples(top["id"])
    assert ex and [e["rank"] for e in ex] == list(range(len(ex)))
    assert [e["act"] for e in ex] == sorted((e["act"] for e in ex), reverse=True)
    assert store.feature(store.d_sae) is None
    assert store.top_examples(store.d_sae) == []


def test_search_token_finds_the_peak_token_of_a_feature(store):
    i = store.list(sort="density", limit=1)[0]["id"]
    e = store.top_examples(i)[0]
    peak = store.vocab[e["tokens"][e["col"] - e["start"]]]
    hits = store.search_token(peak)
    assert any(h["feature"] == i and h["kind"] == "act" for h in hits)
    assert store.search_token("") == []


def test_indexes_exist_for_sorted_lists_and_search(store):
    db = sqlite3.connect(store.path)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"features_density", "features_max_act", "token_index_token"} <= names
    plan = " ".join(
        str(r) for r in db.execute("EXPLAIN QUERY PLAN SELECT * FROM features ORDER BY density DESC LIMIT 5")
    )
    assert "features_density" in plan


def test_not_a_store(tmp_path):
    (tmp_path / "features.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(MonoscopeError, match="not a monoscope feature store"):
        FeatureStore(tmp_path)
    with pytest.raises(MonoscopeError, match="monoscope analyze"):
        FeatureStore(tmp_path / "missing")
