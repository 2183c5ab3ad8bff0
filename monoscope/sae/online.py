"""Train several SAEs at once from one activation stream (one forward pass feeds every hook).

The stream is any object with `stream(batch_size, seed)` yielding {hook: batch}
plus `sample(hook, n, seed)`, `norm_scale(hook)`, `d_in(hook)` and `meta()` —
`monoscope.activations.online.OnlineActivations` is one. Each SAE is written
in the SAELens layout exactly as `train_sae` writes it. Online runs do not
resume: the stream has no position to return to, so only the end is saved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.io import jsonl_append
from monoscope.sae.train import check_d_in, finish_sae
from monoscope.sae.trainer import SAETrainer, TrainConfig, stage_config
from monoscope.stages import finish_stage, open_stage


@dataclass
class Job:
    hook: str
    out: Path | str
    cfg: TrainConfig


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
        check_d_in(j.cfg, source.d_in(j.hook), f"hook {j.hook}")
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
            t, out, meta, j.hook, scale, secs, extra={"online": True, "saes_per_pass": len(trainers)}
        )
        finish_stage(out)
    return results
