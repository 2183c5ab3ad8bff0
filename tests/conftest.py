"""Shared fixtures: one tiny end-to-end run (seconds) reused by every test that needs a model and an SAE."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder made by the quick demo: data/, model/, acts/<hook>/, sae/, eval/, summary.json."""
    from monoscope.demo import QUICK, run_demo

    out = tmp_path_factory.mktemp("tiny_run")
    summary = run_demo(out, QUICK, progress=False)
    return out, summary
