"""SAE quality beyond reconstruction on the demo's SAEs: absorption, sparse probing, and agreement with SAEBench.

One JSON line per SAE of the run (every folder RUN/*/ holding an SAE):
`absorption_rate` (SAEBench's mean_full_absorption_score), `absorption_fraction`,
`latents_per_letter` (mean_num_split_features), `sparse_probing_top1` (the top-1
latent probe's test accuracy, mean over the fitted token-level contexts) against
`raw_probe` (the same probe on the raw hook activations), and how many of those
contexts have top-1 within 0.05 of raw. Where absorption is skipped because no
letter's probe reaches SAEBench's F1 0.6, the line says why with the probe's test
F1 per letter and the hook (`absorption_probe_f1_by_letter`). Then one line, `saebench_max_abs_diff`:
the largest |ours - SAEBench| over the shared metrics on the fixture of
tests/evals/saebench_fixture.py, against SAEBench 0.6.0's frozen outputs on it
(tests/evals/data/saebench_reference.json, remade by `make saebench-reference`).

    python bench/sae_quality.py [--run runs/demo] [--probe-contexts 256]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import common
import numpy as np

EVALS_TESTS = common.ROOT / "tests" / "evals"
NEAR = 0.05  # the bar: top-1 within this of the raw probe


def sae_folders(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if (p / "cfg.json").exists() and (p / "sae_weights.safetensors").exists())


def probing_summary(tasks: list[dict]) -> dict:
    from monoscope.features.contexts import TOKEN_KINDS

    fitted = [t for t in tasks if "skipped" not in t and t.get("kind") in TOKEN_KINDS]
    top1 = [t["sae_top_1_test_accuracy"] for t in fitted]
    raw = [t["llm_test_accuracy"] for t in fitted]
    return {
        "sparse_probing_top1": float(np.mean(top1)) if fitted else None,
        "raw_probe": float(np.mean(raw)) if fitted else None,
        "token_contexts_fitted": len(fitted),
        "token_contexts_within_0.05": sum(r - t <= NEAR for t, r in zip(top1, raw, strict=True)),
        "per_context": {
            t["task"]: [round(t["sae_top_1_test_accuracy"], 4), round(t["llm_test_accuracy"], 4)] for t in fitted
        },
        "token_contexts_too_small": [t["task"] for t in tasks if "skipped" in t and t.get("kind") in TOKEN_KINDS],
    }


def saebench_diff() -> tuple[float, dict]:
    """Max |ours - SAEBench's frozen output| over the shared absorption and sparse-probing metrics on the fixture."""
    sys.path.insert(0, str(EVALS_TESTS))
    import saebench_fixture
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    from monoscope.evals.absorption import absorption
    from monoscope.evals.sparse_probing import probe_task
    from monoscope.models import load_model
    from monoscope.sae import load_sae

    ref = json.loads((EVALS_TESTS / "data" / "saebench_reference.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        desc = saebench_fixture.build(out)
        if not saebench_fixture.same_fixture(desc["checksums"], ref["fixture"]["checksums"]):
            common.fail("the SAEBench fixture no longer matches the frozen reference; run `make saebench-reference`")
        tok = AutoTokenizer.from_pretrained(out / "model")
        strs = [tok.decode([i]) for i in range(len(tok))]
        ours = absorption(load_model(out / "model"), desc["hook"], strs, load_sae(out / "sae"), tok.bos_token_id)
        d = load_file(str(out / "probing.safetensors"))
    mask = np.concatenate([d["train_y"], d["test_y"]]) > 0
    probe = probe_task(
        np.concatenate([d["train_x"], d["test_x"]]),
        np.concatenate([d["train_f"], d["test_f"]]),
        mask,
        np.arange(len(mask)) < len(d["train_y"]),
    )
    diffs = {k: abs(ours[k] - v) for k, v in ref["absorption"].items() if k.startswith("mean_")}
    diffs |= {k: abs(probe[k] - v) for k, v in ref["sparse_probing"].items()}
    return max(diffs.values()), {k: round(v, 4) for k, v in diffs.items()}


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--probe-contexts", type=int, default=256, help="validation contexts for sparse probing")
    ap.add_argument("--eval-contexts", type=int, default=64, help="validation contexts for the core metrics")
    a = ap.parse_args()
    common.check_device(a.device)
    run = common.run_folder(a.run, "model", "data")
    folders = sae_folders(run)
    if not folders:
        common.fail(f"{run} holds no SAE folder; run `make demo` first")
    from monoscope.errors import MonoscopeError
    from monoscope.evals.bench import BenchConfig, bench_saes

    cfg = BenchConfig(
        eval_contexts=8 if a.quick else a.eval_contexts,
        probe_contexts=64 if a.quick else a.probe_contexts,
        model=str(run / "model"),
        data=str(run / "data"),
        device=a.device,
    )
    try:
        res = bench_saes(folders, cfg)
    except MonoscopeError as e:
        common.fail(str(e))
    rec = common.Recorder("sae_quality", a)
    for folder, v in res["saes"].items():
        ab = v["absorption"]
        probing = probing_summary(v["sparse_probing"])
        rec.figure(
            f"sparse probing top-1, {Path(folder).name}",
            probing["sparse_probing_top1"],
            "accuracy",
            peer="raw-activation probe",
            peer_value=probing["raw_probe"],
            sae=Path(folder).name,
            architecture=v["architecture"],
            d_sae=v["d_sae"],
            absorption_rate=ab.get("mean_full_absorption_score"),
            absorption_fraction=ab.get("mean_absorption_fraction_score"),
            latents_per_letter=ab.get("mean_num_split_features"),
            letters_scored=ab.get("n_letters_scored"),
            absorption_skipped=ab.get("skipped"),
            absorption_hook=ab.get("hook"),
            absorption_probe_f1_mean=ab.get("probe_f1_mean"),
            absorption_probe_f1_by_letter=ab.get("probe_f1_by_letter"),
            **probing,
        )
    worst, diffs = saebench_diff()
    rec.figure(
        "max |ours - SAEBench| on the shared metrics",
        worst,
        "absolute",
        peer="tolerance",
        peer_value=0.02,
        saebench_max_abs_diff=round(worst, 4),
        diffs=diffs,
    )


if __name__ == "__main__":
    main()
