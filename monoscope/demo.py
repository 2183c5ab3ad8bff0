"""The main job end to end on the built-in default: corpus → model → activations → SAE → evals.

Each stage writes its own sub-folder of the run folder and is reused when it
already finished with the same configuration, so a second run is quick.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from monoscope.activations import HarvestConfig, harvest
from monoscope.data.dataset import DataConfig, build_dataset
from monoscope.evals import EvalConfig, evaluate
from monoscope.io import read_json, read_jsonl, write_json, write_text
from monoscope.models.train import ModelTrainConfig, train_model
from monoscope.models.transformer import GPTConfig
from monoscope.plots import curves, density_histogram
from monoscope.runs import finish_stage, open_stage
from monoscope.sae import SAEConfig, TrainConfig, train_sae


@dataclass
class DemoConfig:
    corpus: str = "builtin"
    corpus_scale: float = 1.0  # fraction of the built-in corpus budget (tests use a sliver)
    vocab_size: int = 4096
    n_ctx: int = 128
    d_model: int = 128
    d_mlp: int = 512
    n_heads: int = 4
    n_layers: int = 1
    model_steps: int = 2400  # ~9.8M tokens: val loss ~3.0 nats (4.2 at 450 steps)
    model_batch: int = 32
    hook: str = "blocks.0.mlp.hook_post"
    harvest_tokens: int = 1_000_000
    architecture: str = "relu"
    # Bricken et al.'s ReLU + L1 recipe. On the demo model a 2048-latent dictionary at L0 < 20 leaves 20-50% of
    # latents dead whatever the resampling; 1024 latents with lr 1e-3 keep them alive (see the issue notes).
    d_sae: int = 1024
    k: int | None = None
    sparsity_coef: float = 3.3
    sae_vectors: int = 1_000_000
    sae_batch: int = 512
    sae_lr: float = 1e-3
    sae_resample_at: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    eval_contexts: int = 800  # the whole validation split (~97k tokens): the window for "dead"
    analysis_tokens: int = 300_000  # feature analysis (0 skips it and the dashboard)
    seed: int = 0
    device: str = "cpu"


QUICK = DemoConfig(
    corpus_scale=0.03,
    vocab_size=512,
    n_ctx=32,
    d_model=32,
    d_mlp=64,
    n_heads=2,
    model_steps=30,
    model_batch=16,
    harvest_tokens=20_000,
    d_sae=128,
    sae_vectors=20_000,
    sae_batch=256,
    eval_contexts=16,
    analysis_tokens=4096,
)


def run_demo(out: Path | str, cfg: DemoConfig | None = None, overwrite: bool = False, progress: bool = True) -> dict:
    cfg = cfg or DemoConfig()
    out = Path(out)
    t0 = time.time()
    times: dict[str, float] = {}

    def timed(name, fn):
        t = time.time()
        r = fn()
        times[name] = round(time.time() - t, 1)
        return r

    dcfg = DataConfig(
        corpus=cfg.corpus, vocab_size=cfg.vocab_size, n_ctx=cfg.n_ctx, seed=cfg.seed, builtin_scale=cfg.corpus_scale
    )
    ds = timed("data", lambda: build_dataset(out / "data", dcfg, overwrite))
    mcfg = ModelTrainConfig(
        model=GPTConfig(
            vocab_size=ds.meta["vocab_size"],
            n_ctx=cfg.n_ctx,
            d_model=cfg.d_model,
            d_mlp=cfg.d_mlp,
            n_heads=cfg.n_heads,
            n_layers=cfg.n_layers,
        ),
        steps=cfg.model_steps,
        batch_size=cfg.model_batch,
        eval_every=max(1, cfg.model_steps // 6),
        checkpoint_every=max(1, cfg.model_steps // 6),
        seed=cfg.seed,
        device=cfg.device,
    )
    model = timed("train_model", lambda: train_model(ds, out / "model", mcfg, overwrite, progress))
    curves(
        read_jsonl(out / "model" / "metrics.jsonl"),
        ["loss", "val_loss", "lr"],
        out / "model" / "training.png",
        "subject model",
    )
    hcfg = HarvestConfig(hook=cfg.hook, max_tokens=cfg.harvest_tokens, device=cfg.device)
    store = timed(
        "harvest",
        lambda: harvest(
            model,
            ds,
            out / "acts" / cfg.hook,
            hcfg,
            overwrite,
            model_name=mcfg.model.model_name,
            model_path=str((out / "model").resolve()),
            progress=progress,
        ),
    )
    tcfg = TrainConfig(
        sae=SAEConfig(cfg.architecture, store.d_in, cfg.d_sae, k=cfg.k),
        total_vectors=cfg.sae_vectors,
        batch_size=cfg.sae_batch,
        lr=cfg.sae_lr,
        sparsity_coef=cfg.sparsity_coef,
        resample_at=cfg.sae_resample_at,
        seed=cfg.seed,
        device=cfg.device,
    )
    sae = timed("train_sae", lambda: train_sae(store, out / "sae", tcfg, overwrite, progress))
    curves(
        read_jsonl(out / "sae" / "metrics.jsonl"),
        ["fvu", "l0", "dead_fraction", "mse"],
        out / "sae" / "training.png",
        "SAE training",
        x="vectors",
        log_keys=("mse",),
    )
    ecfg = EvalConfig(n_contexts=cfg.eval_contexts, device=cfg.device)
    result = timed("eval", lambda: run_eval(model, sae, ds, out / "eval", ecfg, overwrite, progress))
    pages = timed("analysis", lambda: run_analysis(out, cfg, overwrite, progress)) if cfg.analysis_tokens > 0 else {}
    summary = {
        "subject_val_loss": read_json(out / "model" / "train_summary.json")["val_loss"],
        "l0": result["l0"],
        "fvu": result["fvu"],
        "dead_fraction": result["dead_fraction"],
        "dead_window_tokens": result["dead_window_tokens"],
        "dense_fraction": result["dense_fraction"],
        "loss_recovered": result["loss_recovered"],
        "kl": result["kl"],
        "ce_clean": result["ce_clean"],
        "ce_spliced": result["ce_spliced"],
        "ce_zero_ablated": result["ce_zero_ablated"],
        "architecture": cfg.architecture,
        "d_sae": cfg.d_sae,
        "hook": cfg.hook,
        "seconds": round(time.time() - t0, 1),
        "stage_seconds": times,
        "config": asdict(cfg),
        **pages,
        "plots": [
            str(p) for p in (out / "model" / "training.png", out / "sae" / "training.png", out / "eval" / "density.png")
        ],
    }
    write_json(out / "summary.json", summary)
    write_text(out / "summary.txt", format_summary(summary))
    return summary


def run_eval(model, sae, ds, out: Path, cfg: EvalConfig, overwrite: bool = False, progress: bool = True) -> dict:
    stage = {**asdict(cfg), "sae": str(Path(out).parent / "sae")}
    stage.pop("device")
    if open_stage(out, "eval", stage, overwrite):
        return read_json(out / "eval.json")
    r = evaluate(model, sae, ds.split("val").tokens, cfg=cfg, positions=ds.positions, progress=progress)
    write_json(out / "eval.json", r)
    density_histogram(r["log10_density"], out / "density.png", f"{sae.architecture} SAE, {sae.d_sae} features")
    finish_stage(out)
    return r


def run_analysis(out: Path, cfg: DemoConfig, overwrite: bool = False, progress: bool = True) -> dict:
    """Feature analysis (RUN/analysis/features.db) and the offline dashboard (RUN/dashboard), reused when unchanged."""
    from monoscope.dashboard.static import write_dashboard
    from monoscope.features.analysis import AnalysisConfig, analyze
    from monoscope.features.store import FeatureStore
    from monoscope.run import load_run

    run = load_run(out, device=cfg.device)
    analyze(
        run,
        out / "analysis",
        AnalysisConfig(tokens=cfg.analysis_tokens, seed=cfg.seed, device=cfg.device),
        overwrite,
        progress,
    )
    index = write_dashboard(
        FeatureStore(out / "analysis", sae_folder=run.sae_folder),
        out / "dashboard",
        overwrite=overwrite,
        progress=progress,
    )
    return {
        "dashboard": Path(index).resolve().as_uri(),
        "browser": f"monoscope serve --sae {out}  (then open http://127.0.0.1:8000/)",
    }


def format_summary(s: dict) -> str:
    rows = [
        ("subject model val loss", f"{s['subject_val_loss']:.3f} nats"),
        ("hook", s["hook"]),
        ("SAE", f"{s['architecture']}, {s['d_sae']} features"),
        ("L0 (active features/token)", f"{s['l0']:.1f}"),
        ("FVU", f"{s['fvu']:.3f}"),
        ("loss recovered", f"{s['loss_recovered']:.3f}"),
        ("KL(clean || spliced)", f"{s['kl']:.4f} nats"),
        ("CE clean / spliced / zero-abl.", f"{s['ce_clean']:.3f} / {s['ce_spliced']:.3f} / {s['ce_zero_ablated']:.3f}"),
        (f"dead fraction (over {s['dead_window_tokens']} tokens)", f"{s['dead_fraction']:.3f}"),
        ("dense fraction (>10%)", f"{s['dense_fraction']:.3f}"),
        ("wall time", f"{s['seconds']:.0f} s  " + " ".join(f"{k}={v}s" for k, v in s["stage_seconds"].items())),
    ]
    if s.get("dashboard"):
        rows += [("feature pages (offline)", s["dashboard"]), ("feature browser", s["browser"])]
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows) + "\n"
