"""Train one SAE from an activation store into a run folder (SAELens layout + metrics + checkpoints)."""

from __future__ import annotations

import copy
import math
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


def check_d_in(cfg: TrainConfig, d_in: int, source: str, widths: list[int] | None = None) -> None:
    """The one check that an SAE's width fits the vectors it will be fed (a store, a stream's hook); a transcoder
    needs a store holding both its ends, of widths [d_in, d_out]."""
    widths = widths or [d_in]
    if cfg.sae.is_transcoder:
        if widths != [cfg.sae.d_in, cfg.sae.d_out]:
            raise MonoscopeError(
                f"a transcoder {cfg.sae.d_in} -> {cfg.sae.d_out} needs a store of both ends (harvest --target-hook); "
                f"{source} holds widths {widths}"
            )
    elif len(widths) != 1:
        raise MonoscopeError(f"{source} holds two hooks side by side {widths}: train a transcoder on it (d_out)")
    elif cfg.sae.d_in != d_in:
        raise MonoscopeError(f"SAE d_in={cfg.sae.d_in} does not match {source} (d_in={d_in})")


def store_source(store) -> str:
    return f"the store's vectors (hook {store.hook}{' -> ' + store.target_hook if store.target_hook else ''})"


def pair_scales(store, n: int = 8192) -> tuple[float, float]:
    """Each end of a paired store scaled so E||x|| = sqrt(width), as a single store is (SAELens's
    expected_average_only_in), measured on a sample: an MLP's output is far smaller than its input."""
    x = store.sample(n, seed=0)
    d = store.widths[0]
    return tuple(float(math.sqrt(v.shape[1]) / max(float(v.norm(dim=1).mean()), 1e-12)) for v in (x[:, :d], x[:, d:]))


def make_trainer(store, cfg: TrainConfig) -> tuple[SAETrainer, float | torch.Tensor]:
    """The trainer and the input scale: a float, or for a transcoder a vector [d_in + d_out] scaling each end."""
    scale = store.norm_scale if cfg.normalize_activations else 1.0
    if cfg.sae.is_transcoder:
        s_in, s_out = pair_scales(store) if cfg.normalize_activations else (1.0, 1.0)
        scale = torch.cat([torch.full((cfg.sae.d_in,), s_in), torch.full((cfg.sae.d_out,), s_out)]).to(cfg.device)

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
        "norm_scale_folded": scale_pair(scale)[0] if not torch.is_tensor(scale) else list(scale_pair(scale)),
        "sparsity_coefficient": cfg.sparsity_coef,
    }


def scale_pair(scale: float | torch.Tensor) -> tuple[float, float]:
    """(input scale, output scale) of a float or a transcoder's per-end vector."""
    if torch.is_tensor(scale):
        return float(scale[0]), float(scale[-1])
    return float(scale), float(scale)


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
    sae.fold_input_scale(*scale_pair(scale))
    sae.cfg.metadata = {**sae.cfg.metadata, **sae_metadata(meta, hook, trainer, scale)}
    if sae.cfg.is_transcoder:
        sae.cfg.metadata["hook_name_out"] = meta.get("target_hook")
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
    check_d_in(cfg, store.d_in, store_source(store), store.widths)
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
