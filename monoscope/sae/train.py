"""Train one SAE from an activation store into a run folder (SAELens layout + metrics + checkpoints)."""
from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.io import jsonl_append, write_json
from monoscope.runs import finish_stage, open_stage
from monoscope.sae.io import save_sae
from monoscope.sae.trainer import SAETrainer, TrainConfig

CHECKPOINT = "checkpoint.pt"


def _save_checkpoint(path: Path, trainer: SAETrainer) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(trainer.state_dict(), tmp)
    tmp.replace(path)


def train_sae(store, out: Path | str, cfg: TrainConfig, overwrite: bool = False, progress: bool = True):
    """Train on `store` (an ActivationStore) and save to `out`. Resumes from `out/checkpoint.pt` if present."""
    out = Path(out)
    if cfg.sae.d_in != store.d_in:
        raise MonoscopeError(f"SAE d_in={cfg.sae.d_in} does not match the store's vectors (d_in={store.d_in}, hook {store.hook})")
    stage_cfg = {**cfg.to_dict(), "store": str(Path(store.folder).resolve())}
    stage_cfg.pop("device")
    if open_stage(out, "train-sae", stage_cfg, overwrite):
        from monoscope.sae.io import load_sae

        return load_sae(out, cfg.device)
    scale = store.norm_scale if cfg.normalize_activations else 1.0

    def sample_fn(n: int, seed: int) -> torch.Tensor:
        return store.sample(n, seed) * scale

    trainer = SAETrainer(cfg, sample_fn=sample_fn)
    ckpt = out / CHECKPOINT
    metrics = out / "metrics.jsonl"
    if ckpt.exists():
        trainer.load_state_dict(torch.load(ckpt, weights_only=True, map_location=cfg.device))
    elif metrics.exists():
        metrics.unlink()
    t0 = time.time()
    steps = cfg.steps
    batches = store.iter_batches(cfg.batch_size, seed=cfg.seed, start_batch=trainer.step_no)
    bar = tqdm(total=steps, initial=trainer.step_no, desc=f"train-sae {cfg.sae.architecture} {cfg.sae.d_sae}", disable=not progress)
    try:
        while trainer.step_no < steps:
            x = next(batches).to(cfg.device, non_blocking=True) * scale
            rec = trainer.step(x)
            if len(rec) > 3:
                rec["vectors"] = trainer.step_no * cfg.batch_size
                jsonl_append(metrics, rec)
                if "fvu" in rec:
                    bar.set_postfix(fvu=f"{rec['fvu']:.3f}", l0=f"{rec['l0']:.1f}", dead=f"{rec['dead_fraction']:.2f}")
            bar.update(1)
            if cfg.checkpoint_every and trainer.step_no % cfg.checkpoint_every == 0 and trainer.step_no < steps:
                _save_checkpoint(ckpt, trainer)
    except MonoscopeError:
        bar.close()
        raise
    bar.close()
    sae = copy.deepcopy(trainer.sae).cpu().eval()
    sae.fold_input_scale(scale)
    sae.cfg.metadata = {
        **sae.cfg.metadata,
        "model_name": store.meta.get("model", ""),
        "model_path": store.meta.get("model_path", ""),
        "hook_name": store.hook,
        "hook_head_index": None,
        "context_size": store.meta.get("n_ctx"),
        "prepend_bos": True,
        "exclude_special_tokens": bool(store.meta.get("exclude_bos", True)),
        "dataset_path": store.meta.get("data", ""),
        "training_vectors": trainer.step_no * cfg.batch_size,
        "norm_scale_folded": scale,
        "sparsity_coefficient": cfg.sparsity_coef,
    }
    density = trainer.fire_count.float().cpu() / max(trainer.window_vectors, 1)
    save_sae(sae, out, sparsity=density)
    write_json(out / "train_summary.json", {
        "steps": trainer.step_no, "vectors": trainer.step_no * cfg.batch_size, "seconds": round(time.time() - t0, 2),
        "resampled": trainer.resampled_total, "vectors_per_second": round(steps * cfg.batch_size / max(time.time() - t0, 1e-9)),
    })
    if ckpt.exists():
        ckpt.unlink()
    finish_stage(out)
    return sae
