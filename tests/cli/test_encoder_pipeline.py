"""Encoders through every CLI stage after train-sae (tiny BERT and RoBERTa built from configs): exit 0, and the
pages say why they have no logit panels."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil

import pytest

pytest.importorskip("transformers")

from monoscope.cli import main  # noqa: E402

NOTE = "the model has no unembedding"


def _run_stages(source, tmp_path, capsys):
    """Copy a run folder and take it through every README stage after train-sae; each must exit 0."""
    run = tmp_path / "run"
    shutil.copytree(source, run)
    steps = [
        ["eval", "--sae", str(run), "--contexts", "8", "--quiet"],
        ["analyze", "--sae", str(run), "--tokens", "500", "--quiet"],
        ["dashboard", "--sae", str(run), "--out", str(tmp_path / "dash"), "--quiet"],
        ["report", "--sae", str(run), "--out", str(tmp_path / "rep"), "--select-contexts", "8", "--quiet"],
        ["steer", "--sae", str(run), "--feature", "1", "--clamp", "5x", "--prompt", "hello world", "--json"],
    ]
    for argv in steps:
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    return run


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_encoder_runs_through_analyze_dashboard_serve_report_and_steer(hf_run, family, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from monoscope.dashboard.server import create_app, open_browser_state

    run = _run_stages(hf_run(family), tmp_path, capsys)
    meta = json.loads((run / "analysis" / "analysis.json").read_text())
    assert meta["logit_effects"] is False
    packed = (tmp_path / "dash" / "data" / "meta.js").read_text()
    b64 = re.fullmatch(r'monoscope\.data\("meta","([A-Za-z0-9+/=]*)"\);\n', packed)[1]
    assert NOTE in json.loads(gzip.decompress(base64.b64decode(b64)))["logit_note"]  # what the static page shows
    store, live = open_browser_state(run)
    c = TestClient(create_app(store, live, port=8000), base_url="http://127.0.0.1:8000")
    page = c.get("/feature/1")
    assert page.status_code == 200 and NOTE in page.text
    act = c.post("/api/activations", json={"text": "hello world"})
    assert act.status_code == 200


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_decoders_run_through_the_same_stages_with_logit_panels(hf_run, family, tmp_path, capsys):
    """The same README stages on tiny GPT-2 and Llama (issue 18's figure: a decoder through every stage, exit 0);
    a decoder has an unembedding, so analyze computes logit effects and the page carries no encoder note."""
    from fastapi.testclient import TestClient

    from monoscope.dashboard.server import create_app, open_browser_state

    run = _run_stages(hf_run(family), tmp_path, capsys)
    meta = json.loads((run / "analysis" / "analysis.json").read_text())
    assert meta["logit_effects"] is True
    store, live = open_browser_state(run)
    c = TestClient(create_app(store, live, port=8000), base_url="http://127.0.0.1:8000")
    page = c.get("/feature/1")
    assert page.status_code == 200 and NOTE not in page.text
    assert c.post("/api/activations", json={"text": "hello world"}).status_code == 200
