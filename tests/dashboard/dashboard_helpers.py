"""Stores made to attack the pages: shared by the static and browser tests."""

from __future__ import annotations

import shutil
import sqlite3

from monoscope.features.store import FeatureStore

HOSTILE = "<!--<script>x</script></script><script>document.title='owned'</script>\u2028&amp;"


def hostile_store(tiny_run, tmp_path) -> FeatureStore:
    """A copy of the tiny run's store whose feature 0 carries a label made to break out of inline JSON."""
    shutil.copytree(tiny_run[0] / "analysis", tmp_path / "analysis")
    db = sqlite3.connect(tmp_path / "analysis" / "features.db")
    db.execute("UPDATE features SET label = ? WHERE id = 0", (HOSTILE,))
    db.commit()
    db.close()
    return FeatureStore(tmp_path / "analysis", sae_folder=tiny_run[0] / "sae")
