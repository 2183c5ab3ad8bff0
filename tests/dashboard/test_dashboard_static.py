"""The offline dashboard: every page self-contained (no network, no CDN), sorted list data, refusals."""

from __future__ import annotations

import json
import re

import pytest
from dashboard_helpers import HOSTILE, hostile_store

from monoscope.dashboard.static import write_dashboard
from monoscope.errors import MonoscopeError
from monoscope.features.store import FeatureStore


def test_pages_are_self_contained(tiny_run, tmp_path):
    store = FeatureStore(tiny_run[0] / "analysis", sae_folder=tiny_run[0] / "sae")
    index = write_dashboard(store, tmp_path / "dash", progress=False)
    pages = sorted((tmp_path / "dash" / "features").glob("*.html"))
    assert len(pages) == store.d_sae
    for p in [index, *pages[:20]]:
        html = p.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), p
        assert "@import" not in html and "url(" not in html
    data = json.loads(re.search(r'id="feature-data">(.*?)</script>', index.read_text()).group(1))
    assert sorted(r["id"] for r in data) == list(range(store.d_sae))


def test_refuses_a_foreign_folder(tiny_run, tmp_path):
    store = FeatureStore(tiny_run[0] / "analysis")
    (tmp_path / "mine.txt").write_text("user file")
    with pytest.raises(MonoscopeError, match="not made by monoscope dashboard"):
        write_dashboard(store, tmp_path, progress=False)
    assert (tmp_path / "mine.txt").read_text() == "user file"


def test_inline_json_is_inert_whatever_the_labels_hold(tiny_run, tmp_path):
    store = hostile_store(tiny_run, tmp_path)
    html = write_dashboard(store, tmp_path / "dash", progress=False).read_text()
    block = re.search(r'<script type="application/json" id="feature-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert json.loads(block)[0]["label"] == HOSTILE
