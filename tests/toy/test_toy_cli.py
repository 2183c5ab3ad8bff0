"""`monoscope toy`: bad input gives one line and a non-zero exit, before any folder is made."""

import pytest

from monoscope.cli import main


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["toy", "nope"],
            "choose one of: geometry, importance, phase, dimensionality, jl, compressed-sensing, recovery",
        ),
        (["toy", "geometry", "--m", "7"], "must not exceed"),
        (["toy", "importance", "--n", "0"], "must be positive"),
        (["toy", "dimensionality", "--sparsity", "0.5", "1.0"], "[0, 1)"),
        (["toy", "geometry", "--sparsity", "-0.1"], "[0, 1)"),
        (["toy", "phase", "--seeds", "1000000"], "GiB"),
        (["toy", "jl", "--steps", "3"], "does not take steps"),
        (["toy", "recovery", "--arch", "nope"], "unknown SAE architecture"),
    ],
)
def test_bad_input(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    assert main(args + ["--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("monoscope: error:") and "\n" not in err
    assert needle in err
    assert not out.exists()


def test_jl_end_to_end_and_reuse(tmp_path, capsys):
    import json

    out = tmp_path / "jl"
    args = ["toy", "jl", "--dims", "2", "4", "--out", str(out), "--quiet"]
    assert main(args) == 0
    res = json.loads((out / "jl.json").read_text())
    assert (out / "jl.png").exists()
    assert [r["d"] for r in res["rows"]] == [2, 4]
    assert all(r["optimised"] >= max(r["random_greedy"], r["d"]) for r in res["rows"])
    assert res["rows"][0]["optimised"] == 2  # lines in the plane need 72.5° > 60°: only 2 fit
    assert res["rows"][1]["optimised"] > 4
    assert main(args) == 0  # same config: reused
    assert main(["toy", "jl", "--dims", "3", "--out", str(out), "--quiet"]) == 2  # another config: refused
    assert "--overwrite" in capsys.readouterr().err
