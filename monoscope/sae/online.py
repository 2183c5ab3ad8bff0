"""Train several SAEs at once from one activation stream (one forward pass feeds every hook).

The stream is any object with `stream(batch_size, seed)` yielding {hook: batch}
plus `sample(hook, n, seed)`, `norm_scale(hook)`, `d_in(hook)` and `meta()` —
`monoscope.activations.online.OnlineActivations` is one. Each SAE is written
in the SAELens layout exactly as `train_sae` writes it. Online runs do not
resume: the stream has no position to return to, so only the end is saved.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.io import jsonl_append, write_json
from monoscope.runs import finish_stage, open_stage
from monoscope.sae.io import save_sae
from monoscope.sae.trainer import SAETrainer, TrainConfig, stage_config


@dataclass
class Job:
    hook: str
    out: Path | str
    cfg: TrainConfig


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
    trainer: SAETrainer, out: Path, meta: dict, hook: str, scale: float, seconds: float, extra: dict | None = None
):
    """Fold the input scale, write weights + sparsity + summary, mark the stage complete."""
    sae = copy.deepcopy(trainer.sae).cpu().eval()
    sae.fold_input_scale(scale)
    sae.cfg.metadata = {**sae.cfg.metadata, **sae_metadata(meta, hook, trainer, scale)}
    density = trainer.fire_count.float().cpu() / max(trainer.window_vectors, 1)
    save_sae(sae, out, sparsity=density)
    vectors = trainer.step_no * trainer.cfg.batch_size
    write_json(
        out / "train_summary.json",
        {
            "steps": trainer.step_no,
            "vectors": vectors,
            "seconds": round(seconds, 2),
            "resampled": trainer.resampled_total,
            "vectors_per_second": round(vectors / max(seconds, 1e-9)),
            **(extra or {}),
        },
    )
    finish_stage(out)
    return sae


def train_online(
    source, jobs: list[Job], overwrite: bool = False, progress: bool = True, seed: int = 0
) -> dict[str, object]:
    """Train one SAE per job from `source`; every batch is read once and fed to all. Returns {out: SAE}."""
    if not jobs:
        raise MonoscopeError("no SAE to train")
    sizes = {j.cfg.batch_size for j in jobs}
    if len(sizes) != 1:
        raise MonoscopeError(f"SAEs fed from one stream need one batch size; got {sorted(sizes)}")
    batch = sizes.pop()
    meta = source.meta()
    trainers: list[tuple[Job, SAETrainer, float, Path]] = []
    for j in jobs:
        d_in = source.d_in(j.hook)
        if j.cfg.sae.d_in != d_in:
            raise MonoscopeError(f"SAE d_in={j.cfg.sae.d_in} does not match hook {j.hook} (d_in={d_in})")
        out = Path(j.out)
        stage = {
            **stage_config(j.cfg),
            "source": f"online:{meta.get('model_path', '')}:{j.hook}",
            "data": meta.get("data", ""),
        }
        if open_stage(out, "train-sae", stage, overwrite):
            continue
        (out / "metrics.jsonl").unlink(missing_ok=True)
        scale = source.norm_scale(j.hook) if j.cfg.normalize_activations else 1.0

        def sample_fn(n, s, hook=j.hook, scale=scale):
            return source.sample(hook, n, s) * scale

        trainers.append((j, SAETrainer(j.cfg, sample_fn=sample_fn), scale, out))
    results: dict[str, object] = {}
    if not trainers:
        from monoscope.sae.io import load_sae

        return {str(j.out): load_sae(j.out) for j in jobs}
    steps = max(t.cfg.steps for _, t, _, _ in trainers)
    t0 = time.time()
    bar = tqdm(total=steps, desc=f"train-online {len(trainers)} SAE(s)", disable=not progress)
    stream = source.stream(batch, seed=seed)
    while any(t.step_no < t.cfg.steps for _, t, _, _ in trainers):
        xs = next(stream)
        for j, t, scale, out in trainers:
            if t.step_no >= t.cfg.steps:
                continue
            rec = t.step(xs[j.hook].to(t.cfg.device) * scale)
            if len(rec) > 3:
                jsonl_append(out / "metrics.jsonl", {**rec, "vectors": t.step_no * batch})
        bar.update(1)
    bar.close()
    secs = time.time() - t0
    for j, t, scale, out in trainers:
        results[str(out)] = finish_sae(
            t, out, meta, j.hook, scale, secs, {"online": True, "saes_per_pass": len(trainers)}
        )
    return results
