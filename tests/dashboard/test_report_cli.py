"""`monoscope report` end to end on the tiny run: every section, offline HTML, report.json, and one-line errors."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest

from monoscope.cli import main


@pytest.fixture(scope="module")
def two_sizes(tiny_run, tmp_path_factory):
    """The tiny run's SAE plus a smaller one trained on the same activations."""
    from monoscope.activations import ActivationStore
    from monoscope.sae import SAEConfig, TrainConfig, train_sae

    run, _ = tiny_run
    store = ActivationStore(next((run / "acts").iterdir()))
    out = tmp_path_factory.mktemp("small_sae") / "sae64"
    train_sae(
        store,
        out,
        TrainConfig(sae=SAEConfig("relu", store.d_in, 64), total_vectors=10_000, batch_size=256, sparsity_coef=5.0),
        progress=False,
    )
    return run, out


def test_report_writes_every_section(two_sizes, tmp_path, capsys):
    run, small = two_sizes
    out = tmp_path / "rep"
    rc = main(
        [
            "report",
            "--sae",
            str(run),
            "--sae",
            str(small),
            "--compare-sae",
            str(run),
            "--out",
            str(out),
            "--context",
            "digits=[0-9]+",
            "--context",
            "never=QQQ_NOT_THERE_ZZZ",
            "--select-contexts",
            "48",
            "--eval-contexts",
            "48",
            "--quiet",
        ]
    )
    assert rc == 0
    r = json.loads((out / "report.json").read_text())
    by = {c["name"]: c for c in r["contexts"]}
    assert "matches no token" in by["never"]["error"]  # reported, not a crash
    assert by["digits"]["n_in_eval"] > 0 and by["digits"]["features"]
    doms = [c for c in r["comparison"] if c["context"].startswith("domain:")]
    assert doms and all(0 <= c["feature_specificity"] <= 1 and 0 <= c["feature_sensitivity"] <= 1 for c in doms)
    assert set(r["domain_goal"]["met"]) | set(r["domain_goal"]["not_met"]) == {c["context"][7:] for c in doms}
    g = r["domain_goal"]
    assert [x["sae"] for x in g["saes"]] == [r["sae"], str(small)]  # every --sae is weighed, not only the first
    assert g["saes"][1]["d_sae"] == 64 and set(g["saes"][1]["domains"]) == set(g["domains"])
    for d, x in g["domains"].items():
        assert x["met"] == any(s["domains"][d]["goal_met"] for s in g["saes"]) == bool(x["met_by"])
        p = x["probe"]
        assert 0 <= p["specificity"] <= 1 and 0 <= p["sensitivity"] <= 1 and p["n_fit"] > 0
        assert x["met"] or x["limit"] in ("model", "neuron", "sae")
    assert all(c["probe_specificity"] is not None for c in r["comparison"])
    fams = [c["family"] for c in r["contexts"] if c.get("family")]
    assert fams and all(f["size"] >= 1 and 0 <= f["sensitivity"] <= 1 for f in fams)
    fvn = r["features_vs_neurons"]
    assert len(fvn["decoder_spread"]) == r["d_sae"] and 0 <= fvn["share_best_neuron_corr_below"] <= 1
    pair = r["splitting"]["pairs"][0]
    assert (pair["d_small"], pair["d_large"]) == (64, r["d_sae"]) and len(pair["parent"]) == r["d_sae"]
    assert len(r["splitting"]["umap"]["xy"]) == r["splitting"]["umap"]["n_points"]
    assert r["universality"]["median_feature_corr"] == pytest.approx(1.0, abs=1e-6)  # a model against itself
    page = (out / "report.html").read_text()
    assert "<script" not in page and not re.search(r"(src|href)=\"https?:", page)
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert imgs and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert (out / "report.md").read_text().count("![") >= len(imgs) - 1
    md = (out / "report.md").read_text()
    assert "probe ceiling spec / sens" in md and "probe ceiling spec / sens" in page and "SAE 2: relu 64" in page
    assert "Feature family" in md and "Feature family" in page
    # one list of sections: every heading, table header and figure is on both pages
    from monoscope.dashboard.report import Figure, Heading, Table, sections

    blocks = sections(r)
    heads = [b.text for b in blocks if isinstance(b, Heading)]
    assert len(heads) >= len(r["contexts"]) + 4
    assert all(h in md and html.escape(h) in page for h in heads)
    assert all(all(html.escape(c) in page and c in md for c in b.head) for b in blocks if isinstance(b, Table))
    figs = [b.path for b in blocks if isinstance(b, Figure)]
    assert len(figs) == len(imgs) and all(f"]({f})" in md for f in figs)
    tested = [c for c in r["contexts"] if "error" not in c]
    assert tested and all((out / c["figure"]).stat().st_size > 0 for c in tested)
    # the same folder with another configuration is not overwritten without --overwrite
    assert main(["report", "--sae", str(run), "--out", str(out), "--quiet", "--no-umap"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(two_sizes, tmp_path, capsys):
    run, _ = two_sizes
    assert main(["report", "--sae", str(run), "--context", "bad=(oops", "--out", str(tmp_path / "a"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("monoscope: error:") and "does not compile" in err and "\n" not in err
    other = tmp_path / "other_hook"
    shutil.copytree(run / "sae", other)
    cfg = json.loads((other / "cfg.json").read_text())
    cfg["metadata"]["hook_name"] = "blocks.0.hook_resid_post"
    (other / "cfg.json").write_text(json.dumps(cfg))
    assert main(["report", "--sae", str(run), "--sae", str(other), "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "different hooks" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
