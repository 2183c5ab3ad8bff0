"""Train one SAE from an activation store into a run folder (SAELens layout + metrics + checkpoints)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from monoscope.errors import MonoscopeError
from monoscope.io import write_json
from monoscope.runs import finish_stage, open_stage
from monoscope.sae.checkpoint import CHECKPOINT, refuse_other_config
from monoscope.sae.io import save_sae
from monoscope.sae.loop import run_trainers
from monoscope.sae.trainer import SAETrainer, TrainConfig, stage_config


def check_store(store, cfg: TrainConfig) -> None:
    if cfg.sae.d_in != store.d_in:
        raise MonoscopeError(
            f"SAE d_in={cfg.sae.d_in} does not match the store's vectors (d_in={store.d_in}, hook {store.hook})"
        )


def make_trainer(store, cfg: TrainConfig) -> tuple[SAETrainer, float]:
    scale = store.norm_scale if cfg.normalize_activations else 1.0

    def sample_fn(n: int, seed: int) -> torch.Tensor:
        return store.sample(n, seed) * scale

    return SAETrainer(cfg, sample_fn=sample_fn), scale


def finish_sae(trainer: SAETrainer, store, cfg: TrainConfig, scale: float, out: Path, seconds: float, steps_here: int):
    """Fold the input scale, stamp the metadata, and save in the SAELens layout with a training summary."""
    sae = copy.deepcopy(trainer.sae).cpu().eval()
    sae.fold_input_scale(scale)
    sae.cfg.metadata = {
        **sae.cfg.metadata,
        "model_name": store.meta.get("model", ""),
        "model_path": store.meta.get("model_path", ""),
        "hook_name": store.hook,
        "hook_head_index": None,
        "context_size": store.meta.get("n_ctx"),
        "prepend_bos": bool(store.meta.get("prepend_bos", True)),
        "exclude_special_tokens": bool(store.meta.get("exclude_bos", True)),
        "dataset_path": store.meta.get("data", ""),
        "training_vectors": trainer.step_no * cfg.batch_size,
        "norm_scale_folded": scale,
        "sparsity_coefficient": cfg.sparsity_coef,
    }
    density = trainer.fire_count.float().cpu() / max(trainer.window_vectors, 1)
    save_sae(sae, out, sparsity=density)
    write_json(
        out / "train_summary.json",
        {
            "steps": trainer.step_no,
            "vectors": trainer.step_no * cfg.batch_size,
            "seconds": round(seconds, 2),
            "resampled": trainer.resampled_total,
            "vectors_per_second": round(steps_here * cfg.batch_size / max(seconds, 1e-9)),
        },
    )
    return sae


def train_sae(store, out: Path | str, cfg: TrainConfig, overwrite: bool = False, progress: bool = True):
    """Train on `store` (an ActivationStore) and save to `out`. Resumes from `out/checkpoint.pt` if present."""
    out = Path(out)
    check_store(store, cfg)
    stage_cfg = {**stage_config(cfg), "store": str(Path(store.folder).resolve())}
    refuse_other_config(out, "train-sae", stage_cfg, overwrite)
    if open_stage(out, "train-sae", stage_cfg, overwrite):
        from monoscope.sae.io import load_sae

        return load_sae(out, cfg.device)
    trainer, scale = make_trainer(store, cfg)
    ckpt = out / CHECKPOINT
    t0 = time.time()
    done = run_trainers(
        store,
        {"sae": trainer},
        {"sae": out},
        ckpt,
        stage_cfg,
        cfg.steps,
        cfg.batch_size,
        cfg.seed,
        scale,
        cfg.device,
        cfg.checkpoint_every,
        progress,
        desc=f"train-sae {cfg.sae.architecture} {cfg.sae.d_sae}",
    )
    sae = finish_sae(trainer, store, cfg, scale, out, time.time() - t0, done)
    ckpt.unlink(missing_ok=True)
    finish_stage(out)
    return sae
