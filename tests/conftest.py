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


@pytest.fixture(scope="session")
def hf_run(tmp_path_factory):
    """hf_run(family): a run folder on a tiny Hugging Face model (model/, data/, sae/ on blocks.0.mlp.hook_post),
    built once per family (tests/models/hf_tiny_models.py)."""
    pytest.importorskip("transformers")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "models"))
    from hf_tiny_models import save_tiny_run

    made = {}

    def get(family: str):
        if family not in made:
            made[family] = save_tiny_run(family, tmp_path_factory.mktemp(f"hf_run_{family}"))
        return made[family]

    return get
