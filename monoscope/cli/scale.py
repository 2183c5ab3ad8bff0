"""Sub-commands for real models and scale: data-hf (HF datasets + a model's tokenizer), train-online (no store)."""

from __future__ import annotations

import json
from pathlib import Path

from monoscope.cli.options import option

COMMANDS = ("data-hf", "train-online")


def register(sub) -> None:
    from monoscope.activations.online import OnlineConfig
    from monoscope.data.hf import HFDataConfig
    from monoscope.sae.base import SAEConfig
    from monoscope.sae.trainer import TrainConfig

    p = sub.add_parser("data-hf", help="tokenise a local or hub dataset with a Hugging Face model's tokenizer")
    p.add_argument(
        "--source", required=True, help="file, folder or glob (json/jsonl/csv/parquet/txt), or a hub dataset name"
    )
    p.add_argument("--tokenizer", required=True, help="model folder (or hub id) whose tokenizer the subject model uses")
    option(p, "--text-column", of=HFDataConfig)
    option(p, "--domain-column", of=HFDataConfig, help="optional column with a label per document")
    option(p, "--split", of=HFDataConfig, help="split of a hub dataset")
    option(p, "--subset", of=HFDataConfig, help="configuration of a hub dataset")
    option(p, "--n-ctx", of=HFDataConfig, help="context size (recorded as the SAE's context_size)")
    option(p, "--no-prepend-bos", of=HFDataConfig, field="prepend_bos", help="do not start each context with BOS")
    option(p, "--max-tokens", of=HFDataConfig, help="stop after this many training tokens (0 = all)")
    option(p, "--val-fraction", of=HFDataConfig)
    option(p, "--seed", of=HFDataConfig)
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_data_hf)

    p = sub.add_parser(
        "train-online", help="train SAEs on activations straight from the model (one forward pass feeds all hooks)"
    )
    p.add_argument("--model", required=True, help="model folder (monoscope or Hugging Face)")
    p.add_argument("--data", required=True, help="data folder (monoscope data or data-hf)")
    p.add_argument("--hook", action="append", required=True, help="hook point; repeat for several SAEs")
    p.add_argument("--out", required=True, help="folder; one sub-folder per hook")
    option(p, "--arch", of=SAEConfig, field="architecture")
    option(p, "--d-sae", of=SAEConfig)
    option(p, "--k", of=SAEConfig, type=int)
    option(p, "--l1", "--sparsity-coef", of=TrainConfig, field="sparsity_coef")
    option(p, "--vectors", of=TrainConfig, field="total_vectors", type=float)
    option(p, "--batch-size", of=TrainConfig)
    option(p, "--lr", of=TrainConfig)
    option(p, "--batch-contexts", of=OnlineConfig)
    option(p, "--buffer", of=OnlineConfig, field="buffer_vectors", help="mixing buffer, in vectors per hook")
    option(
        p,
        "--model-dtype",
        of=OnlineConfig,
        field="dtype",
        dest="model_dtype",
        help="forward precision: float32, or bfloat16/float16 on CUDA",
    )
    option(p, "--seed", of=TrainConfig)
    option(p, "--device", of=OnlineConfig)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train_online)


def cmd_data_hf(a) -> int:
    from monoscope.data.hf import HFDataConfig, build_hf_dataset

    cfg = HFDataConfig(
        a.source,
        a.tokenizer,
        a.text_column,
        a.domain_column,
        a.split,
        a.subset,
        a.n_ctx,
        a.prepend_bos,
        a.max_tokens,
        a.val_fraction,
        a.seed,
    )
    ds = build_hf_dataset(a.out, cfg, a.overwrite, progress=not a.quiet)
    print(
        json.dumps(
            {
                k: ds.meta[k]
                for k in (
                    "vocab_size",
                    "train_tokens",
                    "val_tokens",
                    "n_ctx",
                    "prepend_bos",
                    "domains",
                    "domain_tokens",
                )
            }
        )
    )
    return 0


def cmd_train_online(a) -> int:
    from monoscope.activations.online import OnlineActivations, OnlineConfig
    from monoscope.data import Dataset
    from monoscope.models import load_model
    from monoscope.sae import SAEConfig, TrainConfig
    from monoscope.sae.online import Job, train_online

    ds = Dataset(a.data)
    model = load_model(a.model, a.device, a.model_dtype)
    src = OnlineActivations(
        model,
        ds,
        OnlineConfig(
            hooks=a.hook,
            batch_contexts=a.batch_contexts,
            buffer_vectors=a.buffer_vectors,
            device=a.device,
            dtype=a.model_dtype,
        ),
        model_name=getattr(model.cfg, "model_name", str(a.model)),
        model_path=str(Path(a.model).resolve()),
    )
    jobs = [
        Job(
            h,
            Path(a.out) / h,
            TrainConfig(
                sae=SAEConfig(a.architecture, src.d_in(h), a.d_sae, k=a.k),
                total_vectors=int(a.total_vectors),
                batch_size=a.batch_size,
                lr=a.lr,
                sparsity_coef=a.sparsity_coef,
                seed=a.seed,
                device=a.device,
            ),
        )
        for h in a.hook
    ]
    train_online(src, jobs, a.overwrite, progress=not a.quiet, seed=a.seed)
    for j in jobs:
        print(json.dumps({"hook": j.hook, **json.loads((Path(j.out) / "train_summary.json").read_text())}))
    return 0
