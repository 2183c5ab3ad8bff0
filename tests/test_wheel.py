"""Installable as users install: the wheel carries the shipped model and the corpus snapshot, and in a fresh
virtualenv with no checkout around it `monoscope demo` runs on them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["monoscope/pretrained/gpt-1l/model.safetensors", "monoscope/pretrained/gpt-1l/tokenizer.json",
           "monoscope/pretrained/gpt-1l/config.json", "monoscope/pretrained/gpt-1l/trained_on.json",
           "monoscope/data/builtin/corpus.jsonl.xz", "monoscope/data/builtin/corpus.json"]  # fmt: skip


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd[:3]} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_runs_the_demo(tmp_path):
    src = tmp_path / "src"  # a copy, so that building leaves no build/ or egg-info in the checkout
    skip = shutil.ignore_patterns(
        ".git", ".venv*", "runs", "build", "dist", "*.egg-info", "__pycache__", "node_modules"
    )
    shutil.copytree(ROOT, src, ignore=skip)
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", src])
    (wheel,) = (tmp_path / "dist").glob("monoscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(SHIPPED) <= names, sorted(set(SHIPPED) - names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt"]
    _run([*pip, "torch==2.13.0"])
    _run([*pip, wheel])
    work = tmp_path / "elsewhere"  # no checkout here: everything comes from the installed wheel
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run([venv / "bin" / "monoscope", "demo", "--quick", "--out", "demo", "--quiet"], cwd=work, env=env)
    s = json.loads((work / "demo" / "summary.json").read_text())
    assert s["subject_model"] == "shipped (gpt-1l)"
    assert {r["architecture"] for r in s["saes"]} == {"relu", "topk"}
    assert all(0 <= r["dead_fraction"] <= 1 and r["l0"] > 0 for r in s["saes"])
    assert {c["context"] for c in s["contexts"]} >= {"script:arabic", "span:dna"}
    origin = _run([venv / "bin" / "python", "-c", "import monoscope; print(monoscope.__file__)"], cwd=work, env=env)
    assert str(venv) in origin.stdout, origin.stdout
