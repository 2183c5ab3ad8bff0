"""SAEBench's own code on the fixture of saebench_fixture.py; writes the frozen reference the tests compare with.

Runs in the peer virtualenv (`make peers-saebench`), never in the project's:
it imports sae_bench, sae_lens and transformer_lens and nothing of monoscope.
The model is read from the fixture's Hugging Face folder and converted with
TransformerLens's own GPT-2 weight conversion (no hub access: the config is
built from the folder's config.json); the SAE is read with sae_lens's
`SAE.load_from_disk`. Then SAEBench's absorption experiment, as its
`absorption/main.py` runs it: the first-letter probe, the k-sparse probes and
the feature splits (`run_k_sparse_probing_experiment`), the absorption
calculator (`run_feature_absortion_experiment`), its aggregation
(`_aggregate_results_df`) and its probe-F1 filter (min_GT_probe_f1); and
SAEBench's sparse probing (`train_probe_on_activations`) on the fixture's
probing task.

    make saebench-reference    # = fixture + this script; rewrites tests/evals/data/saebench_reference.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

# With the jaxtyping this resolver installs, train_probe_on_activations's shape hints clash with those of the
# train_sklearn_probe it calls ("the size of dimension train_dataset_size is 800 which does not equal the existing
# value of 400": per-class inputs vs the balanced pair); jaxtyping's own switch turns the runtime checks off.
os.environ.setdefault("JAXTYPING_DISABLE", "1")

# SAEBench's template "{word} has the first letter:" reads the word at -6 on GPT-2's tokenizer; the shipped
# tokenizer splits " letter" into " let" + "ter", so the word sits at -7 (its config says to check this per tokenizer).
PROMPT_TOKEN_POS = -7


def hooked_gpt2(folder: Path):
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights
    from transformers import AutoTokenizer, GPT2LMHeadModel

    hf = GPT2LMHeadModel.from_pretrained(folder)
    c = hf.config
    cfg = HookedTransformerConfig(
        n_layers=c.n_layer,
        d_model=c.n_embd,
        d_head=c.n_embd // c.n_head,
        n_heads=c.n_head,
        d_mlp=4 * c.n_embd,
        d_vocab=c.vocab_size,
        n_ctx=c.n_positions,
        act_fn="gelu_new",
        normalization_type="LN",
        eps=c.layer_norm_epsilon,
        model_name="monoscope-fixture-gpt2",
        original_architecture="GPT2LMHeadModel",
        device="cpu",
    )
    model = HookedTransformer(cfg, tokenizer=AutoTokenizer.from_pretrained(folder))
    model.load_and_process_state_dict(
        convert_gpt2_weights(hf, cfg),
        fold_ln=False,
        center_writing_weights=False,
        center_unembed=False,
        fold_value_biases=False,
        refactor_factored_attn_matrices=False,
    )
    return model.eval()


def absorption(model, sae, work: Path) -> dict:
    """SAEBench's absorption eval on layer 0, with its defaults (AbsorptionEvalConfig)."""
    from sae_bench.evals.absorption.eval_config import AbsorptionEvalConfig
    from sae_bench.evals.absorption.feature_absorption import run_feature_absortion_experiment
    from sae_bench.evals.absorption.k_sparse_probing import run_k_sparse_probing_experiment
    from sae_bench.evals.absorption.main import _aggregate_results_df

    cfg = AbsorptionEvalConfig(model_name="monoscope-fixture-gpt2")
    random.seed(cfg.random_seed)
    torch.manual_seed(cfg.random_seed)
    np.random.seed(cfg.random_seed)
    dirs = dict(
        probes_dir=work / "probes",
        experiment_dir=work / "k_sparse",
    )
    common = dict(
        layer=0,
        sae_name="fixture",
        max_k_value=cfg.max_k_value,
        prompt_template=cfg.prompt_template,
        prompt_token_pos=PROMPT_TOKEN_POS,
        device="cpu",
    )
    metrics = run_k_sparse_probing_experiment(
        model=model,
        sae=sae,
        f1_jump_threshold=cfg.f1_jump_threshold,
        k_sparse_probe_l1_decay=cfg.k_sparse_probe_l1_decay,
        k_sparse_probe_batch_size=cfg.k_sparse_probe_batch_size,
        k_sparse_probe_num_epochs=cfg.k_sparse_probe_num_epochs,
        precalc_k_sparse_probe_sae_acts=True,
        verbose=False,
        **dirs,
        **common,
    )
    raw = run_feature_absortion_experiment(
        model=model,
        sae=sae,
        feature_split_f1_jump_threshold=cfg.f1_jump_threshold,
        batch_size=cfg.llm_batch_size,
        experiment_dir=work / "absorption",
        sparse_probing_experiment_dir=work / "k_sparse",
        probes_dir=work / "probes",
        **common,
    )
    agg = _aggregate_results_df(raw)
    f1 = dict(zip(metrics["letter"], metrics["f1_probe"], strict=True))
    details = []
    for _, row in agg.iterrows():
        if f1[row["letter"]] > cfg.min_GT_probe_f1:
            details.append(
                {
                    "first_letter": row["letter"],
                    "mean_absorption_fraction": float(row["mean_absorption_fraction"]),
                    "full_absorption_rate": float(row["full_absorption_rate"]),
                    "num_full_absorption": int(row["num_full_absorption"]),
                    "num_probe_true_positives": int(row["num_probe_true_positives"]),
                    "num_split_features": int(row["num_split_feats"]),
                    "split_features": [int(i) for i in row["split_feats"]],
                    "probe_f1": float(f1[row["letter"]]),
                }
            )
    return {
        "mean_absorption_fraction_score": statistics.mean(d["mean_absorption_fraction"] for d in details),
        "mean_full_absorption_score": statistics.mean(d["full_absorption_rate"] for d in details),
        "mean_num_split_features": statistics.mean(d["num_split_features"] for d in details),
        "n_letters_scored": len(details),
        "letters_with_enough_features": int((metrics["f1_probe"] > cfg.min_GT_probe_f1).sum()),
        "min_feats_for_eval": cfg.min_feats_for_eval,
        "eval_result_details": details,
    }


def sparse_probing(path: Path, ks=(1, 2, 5, 20)) -> dict:
    """SAEBench's `train_probe_on_activations` on the fixture's task: raw activations, then the top-k latents."""
    from sae_bench.evals.sparse_probing.probe_training import train_probe_on_activations
    from safetensors.torch import load_file

    d = load_file(str(path))
    torch.manual_seed(42)

    def split(kind: str, side: str):
        y = d[f"{side}_y"] > 0
        return {"pos": d[f"{side}_{kind}"][y], "neg": d[f"{side}_{kind}"][~y]}

    out = {}
    _, acc = train_probe_on_activations(split("x", "train"), split("x", "test"), select_top_k=None)
    out["llm_test_accuracy"] = acc["pos"]
    for k in ks:
        _, acc = train_probe_on_activations(split("f", "train"), split("f", "test"), select_top_k=k)
        out[f"sae_top_{k}_test_accuracy"] = acc["pos"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--fixture", required=True, help="folder written by tests/evals/saebench_fixture.py")
    ap.add_argument("--out", required=True, help="JSON file to write")
    a = ap.parse_args()
    import importlib.metadata as md

    from sae_lens import SAE

    fixture = Path(a.fixture)
    desc = json.loads((fixture / "fixture.json").read_text())
    model = hooked_gpt2(fixture / "model")
    sae = SAE.load_from_disk(fixture / "sae", device="cpu")
    with tempfile.TemporaryDirectory() as work:
        tokens = model.to_str_tokens("\nshort has the first letter:")
        assert tokens[PROMPT_TOKEN_POS] == "ort", tokens  # the word's last token is read
        result = {
            "made_by": "make saebench-reference",
            "versions": {
                p: md.version(p) for p in ("sae-bench", "sae-lens", "transformer-lens", "torch", "scikit-learn")
            },
            "fixture": desc,
            "absorption": absorption(model, sae, Path(work)),
            "sparse_probing": sparse_probing(fixture / "probing.safetensors"),
        }
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(
        json.dumps(
            {
                k: result["absorption"][k]
                for k in (
                    "mean_absorption_fraction_score",
                    "mean_full_absorption_score",
                    "mean_num_split_features",
                    "n_letters_scored",
                )
            }
        )
    )
    print(json.dumps(result["sparse_probing"]))


if __name__ == "__main__":
    main()
