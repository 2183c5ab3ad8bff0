"""Sub-commands of the main pipeline: data, train-model, harvest, train-sae, eval, demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monoscope.cli.options import option

COMMANDS = ("data", "ship-model", "corpus", "train-model", "harvest", "train-sae", "eval", "demo")


def _common(p: argparse.ArgumentParser, device_of, out: bool = True) -> None:
    if out:
        p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an output folder made with another configuration")
    if device_of is not None:
        option(p, "--device", of=device_of, help="cpu or cuda (fp32 on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub) -> None:
    from monoscope.activations.store import HarvestConfig
    from monoscope.data.dataset import DataConfig
    from monoscope.demo import DemoConfig
    from monoscope.evals.metrics import EvalConfig
    from monoscope.models.train import ModelTrainConfig
    from monoscope.models.transformer import GPTConfig
    from monoscope.sae.base import SAEConfig
    from monoscope.sae.distributed import train_sae_distributed
    from monoscope.sae.trainer import TrainConfig

    p = sub.add_parser("data", help="build a corpus, train a BPE tokenizer and pack token contexts")
    option(p, "--corpus", of=DataConfig, help="'builtin', a folder, a glob of text files, or a .jsonl file")
    option(p, "--text-field", of=DataConfig, help="JSONL field holding the text")
    option(p, "--domain-field", of=DataConfig, help="JSONL field holding a domain label (optional)")
    option(p, "--vocab-size", of=DataConfig)
    option(p, "--n-ctx", of=DataConfig)
    option(p, "--seed", of=DataConfig)
    option(
        p,
        "--tokenizer",
        of=DataConfig,
        type=str,
        help="reuse this tokenizer.json (e.g. a shipped model's) instead of training one",
    )
    _common(p, None)
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
    option(p, "--layers", of=GPTConfig, field="n_layers")
    option(p, "--d-model", of=GPTConfig)
    option(p, "--d-mlp", of=GPTConfig)
    option(p, "--heads", of=GPTConfig, field="n_heads")
    option(p, "--steps", of=ModelTrainConfig, help="optimizer steps of --batch-size contexts")
    option(p, "--batch-size", of=ModelTrainConfig)
    option(p, "--lr", of=ModelTrainConfig)
    option(p, "--seed", of=ModelTrainConfig)
    _common(p, ModelTrainConfig)
    p.set_defaults(func=cmd_train_model)

    p = sub.add_parser("harvest", help="store a hook's activations in sharded files")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", required=True, help="folder made by `monoscope data`")
    option(p, "--hook", of=HarvestConfig, help="hook point name (TransformerLens style)")
    option(
        p,
        "--target-hook",
        of=HarvestConfig,
        type=str,
        help="a second hook stored beside --hook in each row: both ends of a transcoder "
        "(--hook blocks.L.mlp.hook_in --target-hook blocks.L.hook_mlp_out)",
    )
    option(p, "--split", of=HarvestConfig, choices=["train", "val"])
    option(p, "--max-tokens", of=HarvestConfig, type=int)
    option(p, "--dtype", of=HarvestConfig, choices=["float32", "float16"])
    option(p, "--shard-size", of=HarvestConfig)
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
    option(
        p,
        "--model-dtype",
        of=HarvestConfig,
        help="forward precision: float32, or bfloat16/float16 autocast on CUDA (vectors are stored as --dtype)",
    )
    _common(p, HarvestConfig)
    p.set_defaults(func=cmd_harvest)

    p = sub.add_parser("train-sae", help="train a sparse autoencoder on an activation store")
    p.add_argument("--acts", required=True, help="activation store folder made by `monoscope harvest`")
    option(p, "--arch", of=SAEConfig, field="architecture", help="SAE architecture")
    option(p, "--d-sae", of=SAEConfig)
    option(p, "--k", of=SAEConfig, type=int, help="active latents (TopK family)")
    option(
        p,
        "--widths",
        of=SAEConfig,
        field="matryoshka_widths",
        type=str,
        help="matryoshka: nested prefix widths, e.g. 64,256,1024 (default d_sae/64,/16,/4)",
    )
    option(
        p,
        "--skip",
        of=SAEConfig,
        help="a store of both ends (harvest --target-hook) trains a transcoder; --skip adds its linear skip connection",
    )
    option(p, "--l1", "--sparsity-coef", of=TrainConfig, field="sparsity_coef")
    option(
        p,
        "--target-l0",
        of=TrainConfig,
        type=float,
        help="ReLU/JumpReLU/gated: L0 to reach, λ adapted every step from --l1 as its start (0 < L0 <= d_sae)",
    )
    option(p, "--vectors", of=TrainConfig, field="total_vectors", type=float, help="training vectors")
    option(p, "--batch-size", of=TrainConfig)
    option(p, "--lr", of=TrainConfig)
    option(p, "--auxk-coef", of=TrainConfig, help="AuxK weight on dead latents (TopK family)")
    option(
        p,
        "--dead-window",
        of=TrainConfig,
        help="vectors without a firing after which a latent counts as dead (AuxK, resampling)",
    )
    option(p, "--checkpoint-every", of=TrainConfig, help="steps between atomic checkpoints")
    option(p, "--seed", of=TrainConfig)
    p.add_argument(
        "--distributed",
        action="store_true",
        help=(
            "data-parallel over the ranks torchrun starts (gloo on CPU, NCCL on CUDA); --batch-size is the global batch"
        ),
    )
    option(
        p,
        "--dist-timeout",
        of=train_sae_distributed,
        field="timeout_s",
        help="seconds a rank waits for the others before giving up",
    )
    p.add_argument(
        "--sweep",
        default=None,
        metavar="FILE",
        help="YAML/TOML list of SAEs trained together on one pass over the store (then a frontier plot)",
    )
    p.add_argument("--model", default=None, help="sweep frontier: model folder (default: from the store's metadata)")
    p.add_argument("--data", default=None, help="sweep frontier: data folder (default: from the store's metadata)")
    option(
        p,
        "--eval-contexts",
        of=EvalConfig,
        field="n_contexts",
        help="sweep frontier and --bench: validation contexts per SAE",
    )
    p.add_argument("--no-frontier", action="store_true", help="sweep: skip evaluating the SAEs")
    p.add_argument(
        "--bench",
        action="store_true",
        help="sweep: also run bench-sae (absorption, sparse probing, stability) on its SAEs, into OUT/bench",
    )
    _common(p, TrainConfig)
    p.set_defaults(func=cmd_train_sae)

    p = sub.add_parser("eval", help="reconstruction and downstream metrics of an SAE")
    p.add_argument("--sae", required=True, help="SAE folder or run folder")
    p.add_argument("--model", default=None, help="model folder (default: beside the SAE)")
    p.add_argument("--data", default=None, help="data folder (default: beside the SAE)")
    option(p, "--contexts", of=EvalConfig, field="n_contexts")
    p.add_argument("--out", default=None, help="write eval.json and density.png here")
    _common(p, EvalConfig, out=False)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="the whole pipeline on the built-in default, with a summary")
    option(p, "--out", default="runs/demo", help="run folder")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the same stages on a sliver of the corpus with small SAEs, in under a minute (with --train-model: "
        "a tiny model trained from scratch, as the tests run it)",
    )
    option(
        p,
        "--train-model",
        of=DemoConfig,
        help="train the subject model from scratch (about 15 minutes on 2 cores) instead of using the shipped one",
    )
    p.add_argument("--overwrite", action="store_true")
    option(p, "--device", of=DemoConfig)
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
            n_heads=a.n_heads,
            n_layers=a.n_layers,
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
    model = load_model(a.model, a.device, a.model_dtype, module_paths=a.module_paths, module_hook=a.module_path)
    store = harvest(
        model,
        ds,
        a.out,
        HarvestConfig(
            hook=a.module_path or a.hook,
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
    cfg = TrainConfig(
        sae=SAEConfig(
            a.architecture,
            store.widths[0],
            a.d_sae,
            k=a.k,
            matryoshka_widths=a.matryoshka_widths,
            d_out=store.widths[1] if store.target_hook else None,
            skip=a.skip,
        ),
        total_vectors=int(a.total_vectors),
        batch_size=a.batch_size,
        lr=a.lr,
        sparsity_coef=a.sparsity_coef,
        auxk_coef=a.auxk_coef,
        dead_window=a.dead_window,
        target_l0=a.target_l0,
        checkpoint_every=a.checkpoint_every,
        seed=a.seed,
        device=a.device,
    )
    if a.distributed:
        from monoscope.sae.distributed import train_sae_distributed

        if (
            train_sae_distributed(store, a.out, cfg, a.overwrite, progress=not a.quiet, timeout_s=a.timeout_s)
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
            a.out, a.model, a.data, EvalConfig(n_contexts=a.n_contexts, device=a.device), progress=not a.quiet
        )
        for row in r["rows"]:
            print(json.dumps({k: row[k] for k in ("name", "l0", "fvu", "loss_recovered", "dead_fraction")}))
        print(f"frontier: {Path(a.out) / 'frontier.png'}")
    if a.bench:
        from monoscope.evals.bench import BenchConfig, bench_sweep

        cfg = BenchConfig(eval_contexts=a.n_contexts, model=a.model, data=a.data, device=a.device)
        bench_sweep(a.out, cfg, progress=not a.quiet)
        print(f"bench-sae: {Path(a.out) / 'bench' / 'bench_sae.json'}")
    return 0


def cmd_eval(a) -> int:
    from monoscope.evals import EvalConfig, evaluate
    from monoscope.evals.stage import run_eval
    from monoscope.run_folder import load_run

    run = load_run(a.sae, a.model, a.data, a.device)
    cfg = EvalConfig(n_contexts=a.n_contexts, device=a.device)
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
    from monoscope.demo import demo_config, format_summary, run_demo

    s = run_demo(a.out, demo_config(a.quick, a.train_model, a.device), a.overwrite, progress=not a.quiet)
    print()
    print(format_summary(s), end="")
    print(f"\nsummary: {Path(a.out) / 'summary.json'}   plots: {', '.join(s['plots'])}")
    sys.stdout.flush()
    return 0
