"""Train one SAE from an activation store into a run folder (SAELens layout + metrics + checkpoints)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from monoscope.errors import MonoscopeError
from monoscope.io import write_json
from monoscope.sae.checkpoint import CHECKPOINT, refuse_other_config
from monoscope.sae.io import save_sae
from monoscope.sae.loop import run_trainers
from monoscope.sae.trainer import SAETrainer, TrainConfig, stage_config
from monoscope.stages import finish_stage, open_stage


def check_d_in(cfg: TrainConfig, d_in: int, source: str) -> None:
    """The one check that an SAE's width fits the vectors it will be fed (a store, a stream's hook)."""
    if cfg.sae.d_in != d_in:
        raise MonoscopeError(f"SAE d_in={cfg.sae.d_in} does not match {source} (d_in={d_in})")


def store_source(store) -> str:
    return f"the store's vectors (hook {store.hook})"


def make_trainer(store, cfg: TrainConfig) -> tuple[SAETrainer, float]:
    scale = store.norm_scale if cfg.normalize_activations else 1.0

    def sample_fn(n: int, seed: int) -> torch.Tensor:
        return store.sample(n, seed) * scale

    return SAETrainer(cfg, sample_fn=sample_fn), scale


def sae_metadata(meta: dict, hook: str, trainer: SAETrainer, scale: float) -> dict:
    """SAELens metadata from a store's (or stream's) meta: model, hook, context size, BOS handling."""
    cfg = trainer.cfg
    return {
        "model_name": meta.get("model", ""),
        "model_path": meta.get("model_path", ""),
        "hook_name": hook,
        "hook_head_index": None,
        "context_size": meta.get("n_ctx"),
        "prepend_bos": bool(meta.get("prepend_bos", True)),
        "exclude_special_tokens": bool(meta.get("exclude_bos", True)),
        "dataset_path": meta.get("data", ""),
        "training_vectors": trainer.step_no * cfg.batch_size,
        "norm_scale_folded": scale,
        "sparsity_coefficient": cfg.sparsity_coef,
    }


def finish_sae(
    trainer: SAETrainer,
    out: Path,
    meta: dict,
    hook: str,
    scale: float,
    seconds: float,
    steps_here: int | None = None,
    extra: dict | None = None,
):
    """Fold the input scale, stamp the metadata, and save in the SAELens layout with a training summary.

    Every way of training (one SAE, a sweep, online, distributed) ends here; the caller marks its stage complete.
    `steps_here`: steps run by this process (fewer than trainer.step_no after a resume), for the throughput.
    """
    sae = copy.deepcopy(trainer.sae).cpu().eval()
    sae.fold_input_scale(scale)
    sae.cfg.metadata = {**sae.cfg.metadata, **sae_metadata(meta, hook, trainer, scale)}
    density = trainer.fire_count.float().cpu() / max(trainer.window_vectors, 1)
    save_sae(sae, out, sparsity=density)
    batch = trainer.cfg.batch_size
    here = trainer.step_no if steps_here is None else steps_here
    write_json(
        out / "train_summary.json",
        {
            "steps": trainer.step_no,
            "vectors": trainer.step_no * batch,
            "seconds": round(seconds, 2),
            "resampled": trainer.resampled_total,
            "vectors_per_second": round(here * batch / max(seconds, 1e-9)),
            **trainer.dead_report(),
            **(extra or {}),
        },
    )
    return sae


def train_sae(store, out: Path | str, cfg: TrainConfig, overwrite: bool = False, progress: bool = True):
    """Train on `store` (an ActivationStore) and save to `out`. Resumes from `out/checkpoint.pt` if present."""
    out = Path(out)
    check_d_in(cfg, store.d_in, store_source(store))
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
    sae = finish_sae(trainer, out, store.meta, store.hook, scale, time.time() - t0, done)
    ckpt.unlink(missing_ok=True)
    finish_stage(out)
    return sae
