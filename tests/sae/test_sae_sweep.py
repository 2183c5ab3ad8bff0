"""Sweeps: a YAML/TOML grid of SAEs trained on one pass over the stream, then the frontier plot."""

import json

import pytest
from sae_store_helpers import make_store

from monoscope.cli import main
from monoscope.errors import MonoscopeError
from monoscope.sae.sweep import expand_sweep, read_sweep_file, train_sweep

YAML = """
vectors: 6144
batch_size: 256
seed: 1
train: {lr: 0.003, resample_at: []}
saes:
  - {arch: topk, d_sae: 64, k: [2, 4]}
  - {arch: relu, d_sae: 64, sparsity_coef: 0.3}
"""

TOML = """
vectors = 6144
batch_size = 256
[[saes]]
arch = "batchtopk"
d_sae = [32, 64]
k = 3
[[saes]]
arch = "jumprelu"
d_sae = 64
sparsity_coef = 0.01
"""


def test_sweep_files_expand_into_a_grid(tmp_path):
    (tmp_path / "s.yaml").write_text(YAML)
    (tmp_path / "s.toml").write_text(TOML)
    a = expand_sweep(read_sweep_file(tmp_path / "s.yaml"), 16)
    assert sorted(a) == ["relu_64_l0.3", "topk_64_k2", "topk_64_k4"]
    assert all(c.total_vectors == 6144 and c.lr == 0.003 and c.seed == 1 for c in a.values())
    b = expand_sweep(read_sweep_file(tmp_path / "s.toml"), 16)
    assert sorted(b) == ["batchtopk_32_k3", "batchtopk_64_k3", "jumprelu_64_l0.01"]


def test_bad_sweep_files_say_what_is_wrong(tmp_path):
    p = tmp_path / "bad.yaml"
    for text, msg in [
        ("saes: []", "non-empty list"),
        ("saes:\n  - {arch: topk, d_sae: 64, k: 0}", "0 < k < d_sae"),
        ("saes:\n  - {arch: wat, d_sae: 64}", "known: batchtopk"),
        ("saes:\n  - {arch: relu, colour: 3}", "unknown key"),
        ("saes:\n  - {arch: relu, batch_size: [128, 256]}", "stream is shared"),
        ("saes: [", "not valid YAML"),
    ]:
        p.write_text(text)
        with pytest.raises(MonoscopeError, match=msg):
            expand_sweep(read_sweep_file(p), 16)


def test_each_batch_is_read_once_and_fed_to_every_sae(tmp_path):
    store, _ = make_store(tmp_path / "store", n=2048)
    reads = []
    orig = store.iter_batches

    def counting(*a, **kw):
        for b in orig(*a, **kw):
            reads.append(b)
            yield b

    store.iter_batches = counting
    (tmp_path / "s.yaml").write_text(YAML)
    configs = expand_sweep(read_sweep_file(tmp_path / "s.yaml"), 16)
    saes = train_sweep(store, tmp_path / "out", configs, progress=False)
    steps = 6144 // 256
    assert steps <= len(reads) <= steps + 3  # one stream (plus prefetch), not one per SAE
    assert set(saes) == set(configs)
    for name in configs:
        assert (tmp_path / "out" / name / "sae_weights.safetensors").exists()
        summary = json.loads((tmp_path / "out" / name / "train_summary.json").read_text())
        assert summary["steps"] == steps
    assert saes["topk_64_k2"].cfg.k == 2


def test_cli_sweep_trains_and_plots_the_frontier(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    acts = next((run / "acts").iterdir())
    (tmp_path / "s.yaml").write_text(
        "vectors: 8192\nbatch_size: 512\nsaes:\n  - {arch: topk, d_sae: 128, k: [4, 16]}\n"
    )
    rc = main(
        [
            "train-sae",
            "--acts",
            str(acts),
            "--sweep",
            str(tmp_path / "s.yaml"),
            "--out",
            str(tmp_path / "sw"),
            "--eval-contexts",
            "8",
            "--quiet",
        ]
    )
    assert rc == 0
    fr = json.loads((tmp_path / "sw" / "frontier.json").read_text())
    rows = {r["name"]: r for r in fr["rows"]}
    assert set(rows) == {"topk_128_k4", "topk_128_k16"}
    assert rows["topk_128_k4"]["l0"] <= 4 + 1e-6 < rows["topk_128_k16"]["l0"] <= 16 + 1e-6
    assert rows["topk_128_k16"]["fvu"] < rows["topk_128_k4"]["fvu"]
    assert (tmp_path / "sw" / "frontier.png").stat().st_size > 1000
    assert "frontier:" in capsys.readouterr().out
