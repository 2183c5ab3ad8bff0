"""`monoscope bench-sae` on two SAEs of the tiny run: one JSON, one PNG per metric; SAEs of other hooks refused."""

from __future__ import annotations

import json

import torch

from monoscope.cli import main


def _second_sae(folder, out, hook=None, seed=1):
    from monoscope.run_folder import load_run
    from monoscope.sae import SAEConfig, make_sae, save_sae

    run = load_run(folder)
    meta = dict(run.sae.cfg.metadata)
    d_in = run.sae.d_in
    if hook is not None:
        _, cache = run.model.run_with_cache(torch.zeros(1, 2, dtype=torch.long), names=[hook], stop_early=True)
        meta["hook_name"], d_in = hook, cache[hook].shape[-1]
    torch.manual_seed(seed)
    sae = make_sae(SAEConfig("relu", d_in, 64, metadata=meta))
    return save_sae(sae, out)


def test_bench_sae_two_saes(tiny_run, tmp_path, capsys):
    folder, _ = tiny_run
    other = _second_sae(folder, tmp_path / "other")
    out = tmp_path / "bench"
    rc = main(
        ["bench-sae", "--sae", str(folder), "--sae", str(other), "--out", str(out)]
        + ["--model", str(folder / "model"), "--data", str(folder / "data")]
        + ["--eval-contexts", "8", "--probe-contexts", "64", "--context", "digits=[0-9]+", "--min-probe-f1", "0"]
    )
    assert rc == 0
    res = json.loads((out / "bench_sae.json").read_text())
    assert len(res["saes"]) == 2
    for v in res["saes"].values():
        assert {"fvu", "l0", "loss_recovered"} <= set(v["core"])
        assert v["absorption"]["n_letters"] >= 2  # the quick demo's 512-token BPE has letters of 10+ words
        assert "digits" in [t["task"] for t in v["sparse_probing"]]
    assert res["stability"][0]["d_sae_b"] == 64
    for name in ("fvu", "mean_full_absorption_score", "sparse_probing", "stability"):
        assert (out / f"{name}.png").stat().st_size > 0


def test_bench_sae_refuses_other_hook(tiny_run, tmp_path, capsys):
    folder, _ = tiny_run
    other = _second_sae(folder, tmp_path / "resid", hook="blocks.0.hook_resid_post")
    rc = main(
        ["bench-sae", "--sae", str(folder), "--sae", str(other), "--out", str(tmp_path / "b")]
        + ["--model", str(folder / "model"), "--data", str(folder / "data")]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "blocks.0.hook_resid_post" in err and "one hook" in err
    assert not (tmp_path / "b").exists()


def test_train_sae_sweep_with_bench_runs_bench_sae_on_its_saes(tiny_run, tmp_path, capsys):
    folder, _ = tiny_run
    acts = next((folder / "acts").iterdir())
    (tmp_path / "s.yaml").write_text("vectors: 4096\nbatch_size: 512\nsaes:\n  - {arch: topk, d_sae: 64, k: [2, 8]}\n")
    rc = main(
        ["train-sae", "--acts", str(acts), "--sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "sw")]
        + ["--no-frontier", "--bench", "--eval-contexts", "8", "--quiet"]
        + ["--model", str(folder / "model"), "--data", str(folder / "data")]
    )
    assert rc == 0
    res = json.loads((tmp_path / "sw" / "bench" / "bench_sae.json").read_text())
    assert sorted(v["core"]["l0"] <= 8 + 1e-6 for v in res["saes"].values()) == [True, True]
    assert len(res["stability"]) == 1
    assert (tmp_path / "sw" / "bench" / "stability.png").stat().st_size > 0
    assert "bench-sae:" in capsys.readouterr().out
