"""Sub-commands of the main pipeline: data, train-model, harvest, train-sae, eval, demo."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path


def _common(p: argparse.ArgumentParser, out: bool = True) -> None:
    if out:
        p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an output folder made with another configuration")
    p.add_argument("--device", default="cpu", help="cpu or cuda (fp32 on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub) -> None:
    p = sub.add_parser("data", help="build a corpus, train a BPE tokenizer and pack token contexts")
    p.add_argument("--corpus", default="builtin", help="'builtin', a folder, a glob of text files, or a .jsonl file")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text")
    p.add_argument("--domain-field", default="domain", help="JSONL field holding a domain label (optional)")
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--n-ctx", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--tokenizer", default=None, help="reuse this tokenizer.json (e.g. a shipped model's) instead of training one"
    )
    _common(p)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("ship-model", help="copy a trained model folder into the package's shipped models")
    p.add_argument("--model", required=True, help="a finished `monoscope train-model` folder")
    p.add_argument("--out", default=None, help="destination (default: the package's pretrained/gpt-1l)")
    p.add_argument("--overwrite", action="store_true", help="replace the shipped model")
    p.set_defaults(func=cmd_ship_model)

    p = sub.add_parser("corpus", help="rebuild the built-in corpus snapshot from its sources")
    p.add_argument("action", choices=["build"], help="build: write the snapshot and its manifest")
    p.add_argument("--out", required=True, help="snapshot file (.jsonl.xz); its manifest corpus.json goes beside it")
    p.add_argument("--overwrite", action="store_true", help="replace an existing snapshot")
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("train-model", help="train the built-in subject model (resumes if interrupted)")
    p.add_argument("--data", required=True, help="folder made by `monoscope data`")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--d-mlp", type=int, default=512)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--steps", type=int, default=2400, help="optimizer steps of --batch-size contexts (the demo's 2400)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    _common(p)
    p.set_defaults(func=cmd_train_model)

    p = sub.add_parser("harvest", help="store a hook's activations in sharded files")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", required=True, help="folder made by `monoscope data`")
    p.add_argument("--hook", default="blocks.0.mlp.hook_post", help="hook point name (TransformerLens style)")
    p.add_argument(
        "--target-hook",
        default=None,
        help="a second hook stored beside --hook in each row: both ends of a transcoder "
        "(--hook blocks.L.mlp.hook_in --target-hook blocks.L.hook_mlp_out)",
    )
    p.add_argument("--split", default="train", choices=["train", "val"])
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p.add_argument("--shard-size", type=int, default=1 << 16)
    p.add_argument(
        "--module-paths",
        default=None,
        help=(
            "Hugging Face architectures without a built-in map: layers=PATH,embed=PATH,attn=PATH,mlp=PATH,"
            "mlp_down=PATH,final_norm=PATH (final_norm: logit effects)"
        ),
    )
    p.add_argument(
        "--module-path", default=None, help="read the output of this module (of a Hugging Face model) as the hook"
    )
    p.add_argument(
        "--model-dtype",
        default="float32",
        help="forward precision: float32, or bfloat16/float16 autocast on CUDA (vectors are stored as --dtype)",
    )
    _common(p)
    p.set_defaults(func=cmd_harvest)

    p = sub.add_parser("train-sae", help="train a sparse autoencoder on an activation store")
    p.add_argument("--acts", required=True, help="activation store folder made by `monoscope harvest`")
    p.add_argument("--arch", default="relu", help="SAE architecture")
    p.add_argument("--d-sae", type=int, default=1024)
    p.add_argument("--k", type=int, default=None, help="active latents (TopK family)")
    p.add_argument(
        "--widths", default="", help="matryoshka: nested prefix widths, e.g. 64,256,1024 (default d_sae/64,/16,/4)"
    )
    p.add_argument(
        "--skip",
        action="store_true",
        help="a store of both ends (harvest --target-hook) trains a transcoder; --skip adds its linear skip connection",
    )
    p.add_argument("--l1", "--sparsity-coef", dest="sparsity_coef", type=float, default=3.3)
    p.add_argument(
        "--target-l0",
        type=float,
        default=None,
        help="ReLU/JumpReLU/gated: L0 to reach, λ adapted every step from --l1 as its start (0 < L0 <= d_sae)",
    )
    p.add_argument("--vectors", type=float, default=1e6, help="training vectors")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--auxk-coef", type=float, default=None, help="AuxK weight on dead latents (TopK family; default 1/32)"
    )
    p.add_argument(
        "--dead-window",
        type=int,
        default=None,
        help="vectors without a firing after which a latent counts as dead (AuxK, resampling; default 200000)",
    )
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between atomic checkpoints")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--distributed",
        action="store_true",
        help=(
            "data-parallel over the ranks torchrun starts (gloo on CPU, NCCL on CUDA); --batch-size is the global batch"
        ),
    )
    p.add_argument(
        "--dist-timeout", type=float, default=120.0, help="seconds a rank waits for the others before giving up"
    )
    p.add_argument(
        "--sweep",
        default=None,
        metavar="FILE",
        help="YAML/TOML list of SAEs trained together on one pass over the store (then a frontier plot)",
    )
    p.add_argument("--model", default=None, help="sweep frontier: model folder (default: from the store's metadata)")
    p.add_argument("--data", default=None, help="sweep frontier: data folder (default: from the store's metadata)")
    p.add_argument(
        "--eval-contexts", type=int, default=256, help="sweep frontier and --bench: validation contexts per SAE"
    )
    p.add_argument("--no-frontier", action="store_true", help="sweep: skip evaluating the SAEs")
    p.add_argument(
        "--bench",
        action="store_true",
        help="sweep: also run bench-sae (absorption, sparse probing, stability) on its SAEs, into OUT/bench",
    )
    _common(p)
    p.set_defaults(func=cmd_train_sae)

    p = sub.add_parser("eval", help="reconstruction and downstream metrics of an SAE")
    p.add_argument("--sae", required=True, help="SAE folder or run folder")
    p.add_argument("--model", default=None, help="model folder (default: beside the SAE)")
    p.add_argument("--data", default=None, help="data folder (default: beside the SAE)")
    p.add_argument("--contexts", type=int, default=256)
    p.add_argument("--out", default=None, help="write eval.json and density.png here")
    _common(p, out=False)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="the whole pipeline on the built-in default, with a summary")
    p.add_argument("--out", default="runs/demo")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the same stages on a sliver of the corpus with small SAEs, in under a minute (with --train-model: "
        "a tiny model trained from scratch, as the tests run it)",
    )
    p.add_argument(
        "--train-model",
        action="store_true",
        help="train the subject model from scratch (about 15 minutes on 2 cores) instead of using the shipped one",
    )
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_data(a) -> int:
    from monoscope.data.dataset import DataConfig, build_dataset, describe

    ds = build_dataset(
        a.out,
        DataConfig(
            corpus=a.corpus,
            vocab_size=a.vocab_size,
            n_ctx=a.n_ctx,
            seed=a.seed,
            text_field=a.text_field,
            domain_field=a.domain_field,
            tokenizer=a.tokenizer,
        ),
        a.overwrite,
    )
    print(describe(ds.meta), end="")
    print(json.dumps({k: ds.meta[k] for k in ("vocab_size", "train_tokens", "val_tokens", "train_repeat")}))
    return 0


def cmd_ship_model(a) -> int:
    from monoscope.models.pretrained import DEFAULT, PRETRAINED, ship

    dest = ship(a.model, a.out or PRETRAINED / DEFAULT, a.overwrite)
    print(f"shipped {a.model} -> {dest}")
    return 0


def cmd_corpus(a) -> int:
    from monoscope.data.builtin.build import build_docs, write_snapshot
    from monoscope.errors import MonoscopeError

    out = Path(a.out)
    if not out.name.endswith(".jsonl.xz"):
        raise MonoscopeError(f"--out {out}: expected a file name ending in .jsonl.xz")
    if out.exists() and not a.overwrite:
        raise MonoscopeError(f"{out} exists; pass --overwrite to replace it")
    meta = write_snapshot(build_docs(progress=True), out)
    print(json.dumps({k: meta[k] for k in ("fingerprint", "documents", "chars")}))
    return 0


def cmd_train_model(a) -> int:
    from monoscope.data.dataset import Dataset
    from monoscope.models.train import ModelTrainConfig, train_model
    from monoscope.models.transformer import GPTConfig

    ds = Dataset(a.data)
    cfg = ModelTrainConfig(
        model=GPTConfig(
            vocab_size=ds.meta["vocab_size"],
            n_ctx=ds.meta["n_ctx"],
            d_model=a.d_model,
            d_mlp=a.d_mlp,
            n_heads=a.heads,
            n_layers=a.layers,
        ),
        steps=a.steps,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
        device=a.device,
    )
    train_model(ds, a.out, cfg, a.overwrite, progress=not a.quiet)
    print(Path(a.out, "train_summary.json").read_text().strip())
    return 0


def cmd_harvest(a) -> int:
    from monoscope.activations import HarvestConfig, harvest
    from monoscope.data.dataset import Dataset
    from monoscope.models import load_model

    ds = Dataset(a.data)
    if getattr(a, "module_paths", None) or getattr(a, "module_path", None):
        from monoscope.models.hf import HFModel

        model = HFModel.load(a.model, device=a.device, dtype=a.model_dtype, arch=a.module_paths)
        if a.module_path:
            model.add_module_hook(a.module_path, a.module_path)
            a.hook = a.module_path
    else:
        model = load_model(a.model, a.device, a.model_dtype)
    store = harvest(
        model,
        ds,
        a.out,
        HarvestConfig(
            hook=a.hook,
            target_hook=a.target_hook,
            split=a.split,
            max_tokens=a.max_tokens,
            dtype=a.dtype,
            shard_size=a.shard_size,
            device=a.device,
            model_dtype=a.model_dtype,
        ),
        a.overwrite,
        model_name=getattr(getattr(model, "cfg", None), "model_name", str(a.model)),
        model_path=str(Path(a.model).resolve()),
        progress=not a.quiet,
    )
    print(
        json.dumps({"hook": store.hook, "count": store.count, "d_in": store.d_in, "shards": len(store.meta["shards"])})
    )
    return 0


def cmd_train_sae(a) -> int:
    from monoscope.activations import ActivationStore
    from monoscope.sae import SAEConfig, TrainConfig, train_sae

    store = ActivationStore(a.acts)
    if getattr(a, "sweep", None):
        return _train_sweep(a, store)
    extra = (("auxk_coef", a.auxk_coef), ("dead_window", a.dead_window), ("target_l0", a.target_l0))
    extra = {k: v for k, v in extra if v is not None}
    cfg = TrainConfig(
        sae=SAEConfig(
            a.arch,
            store.widths[0],
            a.d_sae,
            k=a.k,
            matryoshka_widths=a.widths,
            d_out=store.widths[1] if store.target_hook else None,
            skip=a.skip,
        ),
        total_vectors=int(a.vectors),
        batch_size=a.batch_size,
        lr=a.lr,
        sparsity_coef=a.sparsity_coef,
        checkpoint_every=a.checkpoint_every,
        seed=a.seed,
        device=a.device,
        **extra,
    )
    if getattr(a, "distributed", False):
        from monoscope.sae.distributed import train_sae_distributed

        if (
            train_sae_distributed(store, a.out, cfg, a.overwrite, progress=not a.quiet, timeout_s=a.dist_timeout)
            is not None
        ):
            print(Path(a.out, "train_summary.json").read_text().strip())
        return 0
    train_sae(store, a.out, cfg, a.overwrite, progress=not a.quiet)
    print(Path(a.out, "train_summary.json").read_text().strip())
    return 0


def _train_sweep(a, store) -> int:
    from monoscope.sae.sweep import expand_sweep, read_sweep_file, train_sweep

    configs = expand_sweep(read_sweep_file(a.sweep), store.d_in, a.device)
    train_sweep(store, a.out, configs, a.overwrite, progress=not a.quiet)
    print(Path(a.out, "sweep.json").read_text().strip())
    if not a.no_frontier:
        from monoscope.evals import EvalConfig
        from monoscope.evals.frontier import run_frontier

        r = run_frontier(
            a.out, a.model, a.data, EvalConfig(n_contexts=a.eval_contexts, device=a.device), progress=not a.quiet
        )
        for row in r["rows"]:
            print(json.dumps({k: row[k] for k in ("name", "l0", "fvu", "loss_recovered", "dead_fraction")}))
        print(f"frontier: {Path(a.out) / 'frontier.png'}")
    if getattr(a, "bench", False):
        from monoscope.evals.bench import BenchConfig, bench_sweep

        cfg = BenchConfig(eval_contexts=a.eval_contexts, model=a.model, data=a.data, device=a.device)
        bench_sweep(a.out, cfg, progress=not a.quiet)
        print(f"bench-sae: {Path(a.out) / 'bench' / 'bench_sae.json'}")
    return 0


def cmd_eval(a) -> int:
    from monoscope.evals import EvalConfig, evaluate
    from monoscope.evals.stage import run_eval
    from monoscope.run_folder import load_run

    run = load_run(a.sae, a.model, a.data, a.device)
    cfg = EvalConfig(n_contexts=a.contexts, device=a.device)
    if a.out:
        r = run_eval(run.model, run.sae, run.dataset, Path(a.out), cfg, a.overwrite, progress=not a.quiet)
    else:
        r = evaluate(
            run.model,
            run.sae,
            run.dataset.split("val").tokens,
            run.hook,
            cfg,
            positions=run.dataset.positions,
            progress=not a.quiet,
        )
    r = {k: v for k, v in r.items() if k != "log10_density"}
    print(json.dumps(r, indent=2))
    return 0


def cmd_demo(a) -> int:
    from monoscope.demo import QUICK, SMOKE, DemoConfig, format_summary, run_demo

    cfg = replace((QUICK if a.train_model else SMOKE) if a.quick else DemoConfig(), device=a.device)
    if a.train_model:
        cfg.train_model = True
    s = run_demo(a.out, cfg, a.overwrite, progress=not a.quiet)
    print()
    print(format_summary(s), end="")
    print(f"\nsummary: {Path(a.out) / 'summary.json'}   plots: {', '.join(s['plots'])}")
    sys.stdout.flush()
    return 0
