"""`monoscope report` on a user's own corpus: a folder of plain text files with no domain labels, through the CLI."""

from __future__ import annotations

import importlib
import inspect
import json
import math

import pytest

from monoscope.cli import main

MODULES = ["argparse", "json", "csv", "logging", "pathlib", "shutil", "textwrap", "unittest", "zipfile", "tarfile"]


def _stdlib_text(module: str) -> str:
    """Real English prose nobody here wrote: a standard-library module's docstrings."""
    m = importlib.import_module(module)
    docs = [inspect.getdoc(m) or ""]
    docs += [inspect.getdoc(v) or "" for _, v in sorted(vars(m).items()) if inspect.isclass(v) or inspect.isfunction(v)]
    return "\n\n".join(d for d in docs if d)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """data → train-model → harvest → train-sae on a folder of .txt files, each through the CLI (exit 0)."""
    root = tmp_path_factory.mktemp("plain")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in MODULES:
        (corpus / f"{name}.txt").write_text(_stdlib_text(name))
    run = root / "run"
    steps = [
        ["data", "--corpus", str(corpus), "--vocab-size", "400", "--n-ctx", "32", "--out", str(run / "data")],
        ["train-model", "--data", str(run / "data"), "--d-model", "32", "--d-mlp", "64", "--heads", "2"]
        + ["--steps", "30", "--batch-size", "16", "--out", str(run / "model")],
        ["harvest", "--model", str(run / "model"), "--data", str(run / "data"), "--max-tokens", "20000"]
        + ["--out", str(run / "acts")],
        ["train-sae", "--acts", str(run / "acts"), "--d-sae", "128", "--vectors", "20000", "--batch-size", "256"]
        + ["--out", str(run / "sae")],
    ]
    for argv in steps:
        assert main([*argv, "--quiet"]) == 0, argv
    return run


@pytest.mark.parametrize("contexts", [[], ["--context", "the_word_the=\\bthe\\b", "--context", "digits=[0-9]+"]])
def test_report_on_a_corpus_without_domain_labels(plain_run, tmp_path, capsys, contexts):
    meta = json.loads((plain_run / "data" / "data.json").read_text())
    assert len(meta["domains"]) == 1  # one label for every file (their kind): no domain labels to test against
    out = tmp_path / "rep"
    rc = main(["report", "--sae", str(plain_run), *contexts, "--out", str(out), "--select-contexts", "64"])
    err = capsys.readouterr().err
    assert rc == 0, err
    r = json.loads((out / "report.json").read_text())
    assert (out / "report.html").exists() and (out / "report.md").exists()
    tested = {c["name"] for c in r["contexts"] if "error" not in c}
    assert {s.split("=")[0] for s in contexts[1::2]} <= tested


def test_eval_analyze_and_dashboard_run_on_a_corpus_without_domain_labels(plain_run, tmp_path, capsys):
    """The other stages a user meets after train-sae, on the same plain-text run: each exits 0 and writes its output."""
    steps = [
        ["eval", "--sae", str(plain_run), "--contexts", "16", "--out", str(tmp_path / "eval")],
        ["analyze", "--sae", str(plain_run), "--tokens", "4096", "--out", str(tmp_path / "analysis")],
        ["dashboard", "--sae", str(plain_run), "--store", str(tmp_path / "analysis" / "features.db")]
        + ["--out", str(tmp_path / "dash")],
    ]
    for argv in steps:
        assert main([*argv, "--quiet"]) == 0, (argv, capsys.readouterr().err)
    ev = json.loads((tmp_path / "eval" / "eval.json").read_text())
    # a 78-step SAE on a 30-step model whose MLP barely matters: FVU is a real number, not a good one, and loss
    # recovered may be undefined (zero ablation costs ~nothing); the stage must still write both
    assert ev["l0"] > 0.0 and math.isfinite(ev["fvu"]) and "loss_recovered" in ev, ev
    assert (tmp_path / "dash" / "index.html").stat().st_size > 0
