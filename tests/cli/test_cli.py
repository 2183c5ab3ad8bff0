"""The `monoscope` command end to end: the quick demo, reuse, and bad input at the boundary."""

import json
import shutil
import subprocess
import sys

import pytest

from monoscope.cli import main

SUMMARY_KEYS = {"subject_val_loss", "seconds", "saes", "contexts"}
SAE_KEYS = {"name", "architecture", "d_sae", "l0", "loss_recovered", "fvu", "dead_fraction", "dead_window_tokens"}
CONTEXT_KEYS = {"context", "in_context_tokens", "feature", "feature_specificity", "feature_sensitivity", "feature_f1"}
CONTEXT_KEYS |= {"neuron", "neuron_f1", "met"}


def test_quick_demo_summary_and_plots(tiny_run):
    out, summary = tiny_run
    assert set(summary) >= SUMMARY_KEYS
    on_disk = json.loads((out / "summary.json").read_text())
    assert set(on_disk) >= SUMMARY_KEYS and on_disk["hook"] == "blocks.0.mlp.hook_post"
    for p in on_disk["plots"]:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert (out / "sae" / "cfg.json").exists() and (out / "sae" / "sae_weights.safetensors").exists()
    assert len(summary["saes"]) == 2 and all(set(r) >= SAE_KEYS for r in summary["saes"])
    assert all(0 <= r["dead_fraction"] <= 1 and r["l0"] >= 0 for r in summary["saes"])
    measured = [c for c in summary["contexts"] if "error" not in c]
    assert measured and all(set(c) >= CONTEXT_KEYS for c in measured)


def test_second_demo_run_reuses_every_stage(tiny_run, capsys):
    out, _ = tiny_run
    stamps = {
        p: p.stat().st_mtime_ns
        for p in [
            out / "model" / "model.safetensors",
            out / "sae" / "sae_weights.safetensors",
            out / "data" / "train.safetensors",
        ]
    }
    assert main(["demo", "--quick", "--train-model", "--out", str(out), "--quiet"]) == 0
    assert "loss recovered" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_other_configuration_is_refused_and_nothing_is_overwritten(tiny_run, capsys):
    out, _ = tiny_run
    before = (out / "model" / "model.safetensors").read_bytes()
    rc = main(["train-model", "--data", str(out / "data"), "--out", str(out / "model"), "--steps", "3", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "another configuration" in err and "--overwrite" in err and err.count("\n") == 1
    assert (out / "model" / "model.safetensors").read_bytes() == before


def test_unknown_hook_lists_valid_ones(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    rc = main(
        [
            "harvest",
            "--model",
            str(out / "model"),
            "--data",
            str(out / "data"),
            "--hook",
            "blocks.0.mlp.hook_nope",
            "--out",
            str(tmp_path / "acts"),
            "--quiet",
        ]
    )
    assert rc == 2 and "blocks.0.mlp.hook_post" in capsys.readouterr().err


def test_module_paths_on_a_monoscope_gpt_are_refused_in_one_line(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    base = ["harvest", "--model", str(out / "model"), "--data", str(out / "data"), "--out", str(tmp_path / "acts")]
    for extra in (["--module-path", "ln_final"], ["--module-paths", "layers=blocks"]):
        assert main(base + extra + ["--quiet"]) == 2
        err = capsys.readouterr().err
        assert "is a monoscope GPT" in err and "blocks.0.mlp.hook_post" in err and err.count("\n") == 1
    assert not (tmp_path / "acts").exists()


def test_missing_and_corrupt_run_folders(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    assert main(["eval", "--sae", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "run"
    shutil.copytree(out / "sae", bad / "sae")
    w = bad / "sae" / "sae_weights.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    rc = main(["eval", "--sae", str(bad), "--model", str(out / "model"), "--data", str(out / "data"), "--quiet"])
    assert rc == 2 and "truncated or corrupt" in capsys.readouterr().err


def test_empty_corpus_and_vocabulary_mismatch(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    (tmp_path / "empty").mkdir()
    assert main(["data", "--corpus", str(tmp_path / "empty"), "--out", str(tmp_path / "d0")]) == 2
    assert "empty" in capsys.readouterr().err
    corpus = tmp_path / "texts"
    corpus.mkdir()
    for i in range(8):
        (corpus / f"{i}.txt").write_text(f"the quick brown fox {i} jumps over the lazy dog. " * 40)
    assert (
        main(["data", "--corpus", str(corpus), "--vocab-size", "300", "--n-ctx", "32", "--out", str(tmp_path / "d1")])
        == 0
    )
    capsys.readouterr()
    rc = main(["eval", "--sae", str(out), "--data", str(tmp_path / "d1"), "--quiet"])
    assert rc == 2 and "another tokenizer" in capsys.readouterr().err


def test_sae_width_must_match_store(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    store = next((out / "acts").iterdir())
    from monoscope.activations import ActivationStore
    from monoscope.errors import MonoscopeError
    from monoscope.sae import SAEConfig, TrainConfig, train_sae

    st = ActivationStore(store)
    with pytest.raises(MonoscopeError, match="does not match the store"):
        train_sae(
            st, tmp_path / "s", TrainConfig(sae=SAEConfig("relu", st.d_in + 1, 8), total_vectors=100), progress=False
        )


def test_console_entry_point():
    r = subprocess.run([sys.executable, "-m", "monoscope", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("monoscope ")


def test_train_sae_takes_auxk_and_dead_window_and_refuses_bad_ones(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    acts = str(out / "acts" / "blocks.0.mlp.hook_post")
    args = [
        "train-sae",
        "--acts",
        acts,
        "--arch",
        "topk",
        "--k",
        "4",
        "--d-sae",
        "64",
        "--vectors",
        "2048",
        "--batch-size",
        "256",
        "--quiet",
    ]
    assert main(args + ["--out", str(tmp_path / "s"), "--auxk-coef", "0.25", "--dead-window", "1000"]) == 0
    stamp = json.loads((tmp_path / "s" / "monoscope_stage.json").read_text())
    assert stamp["config"]["auxk_coef"] == 0.25 and stamp["config"]["dead_window"] == 1000
    capsys.readouterr()
    assert main(args + ["--out", str(tmp_path / "t"), "--dead-window", "0"]) == 2
    err = capsys.readouterr().err
    assert (
        "dead_window must be a positive" in err and err.count("\n") == 1 and not (tmp_path / "t" / "cfg.json").exists()
    )
    m = args[:3] + ["--arch", "matryoshka", "--k", "4", "--d-sae", "64"] + args[9:]
    assert main(m + ["--widths", "8,32", "--out", str(tmp_path / "m")]) == 0
    cfg = json.loads((tmp_path / "m" / "cfg.json").read_text())
    assert cfg["architecture"] == "jumprelu" and cfg["metadata"]["monoscope_architecture"] == "matryoshka"
    assert main(m + ["--widths", "32,8", "--out", str(tmp_path / "n")]) == 2
    assert "strictly increasing" in capsys.readouterr().err


def test_train_sae_target_l0_is_recorded_and_bad_targets_are_one_line(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    acts = str(out / "acts" / "blocks.0.mlp.hook_post")
    args = ["train-sae", "--acts", acts, "--arch", "relu", "--d-sae", "64", "--vectors", "2048", "--batch-size", "256"]
    args.append("--quiet")
    assert main(args + ["--out", str(tmp_path / "s"), "--target-l0", "8"]) == 0
    assert json.loads((tmp_path / "s" / "monoscope_stage.json").read_text())["config"]["target_l0"] == 8
    for bad in ("65", "0", "-2"):
        capsys.readouterr()
        assert main(args + ["--out", str(tmp_path / f"b{bad}"), "--target-l0", bad]) == 2
        err = capsys.readouterr().err
        assert "target L0 must satisfy 0 < target <= d_sae=64" in err and err.count("\n") == 1
        assert not (tmp_path / f"b{bad}" / "cfg.json").exists()
    capsys.readouterr()
    topk = ["--arch", "topk", "--k", "4", "--out", str(tmp_path / "k"), "--target-l0", "4"]
    assert main(args + topk) == 2 and "sets its L0 with k" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["harvest", "train-online", "train-model", "analyze"])
def test_cuda_without_a_gpu_is_one_line_before_any_work(tiny_run, tmp_path, capsys, command):
    out, _ = tiny_run
    args = {
        "harvest": ["--model", str(out / "model"), "--data", str(out / "data"), "--out", str(tmp_path / "o")],
        "train-online": [
            "--model",
            str(out / "model"),
            "--data",
            str(out / "data"),
            "--hook",
            "x",
            "--out",
            str(tmp_path / "o"),
        ],
        "train-model": ["--data", str(out / "data"), "--out", str(tmp_path / "o")],
        "analyze": ["--sae", str(out), "--out", str(tmp_path / "o")],
    }[command]
    assert main([command, *args, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "--device cpu" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_on_cpu_is_refused_with_the_reason(tiny_run, tmp_path, capsys, dtype):
    out, _ = tiny_run
    for command, extra in (("harvest", []), ("train-online", ["--hook", "blocks.0.mlp.hook_post"])):
        rc = main(
            [command, "--model", str(out / "model"), "--data", str(out / "data"), "--out", str(tmp_path / "o")]
            + extra
            + ["--model-dtype", dtype, "--quiet"]
        )
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1, err
        assert f"{dtype} asked for on cpu" in err and "emulated" in err and "float32 or --device cuda" in err
    assert not (tmp_path / "o").exists()


def test_half_precision_on_cpu_is_refused_in_the_library_too(tiny_run):
    from monoscope.activations import HarvestConfig, harvest
    from monoscope.errors import MonoscopeError
    from monoscope.run_folder import load_run

    run = load_run(tiny_run[0])
    with pytest.raises(MonoscopeError, match="half precision is for CUDA"):
        harvest(run.model, run.dataset, tiny_run[0] / "never", HarvestConfig(model_dtype="bfloat16"), progress=False)
    assert not (tiny_run[0] / "never").exists()
