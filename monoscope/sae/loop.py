"""The training loop shared by one SAE and a sweep: each batch is read once and fed to every trainer.

The stream position is the step number (the store's shuffled reader is a pure
function of (seed, batch)), so a checkpoint holding every trainer's state and
the RNG state resumes to exactly the run that was never interrupted.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monoscope.io import jsonl_append
from monoscope.sae.checkpoint import load_checkpoint, save_checkpoint, truncate_metrics
from monoscope.sae.trainer import SAETrainer


def _prefetch(it: Iterator[torch.Tensor], depth: int = 2) -> Iterator[torch.Tensor]:
    """Read the next batches in a thread while the trainers compute (order preserved)."""
    q: queue.Queue = queue.Queue(depth)
    stop = object()

    def work():
        try:
            for b in it:
                q.put(b)
        except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
            q.put(e)
        q.put(stop)

    threading.Thread(target=work, daemon=True).start()
    while True:
        b = q.get()
        if b is stop:
            return
        if isinstance(b, BaseException):
            raise b
        yield b


def run_trainers(
    store,
    trainers: dict[str, SAETrainer],
    folders: dict[str, Path],
    ckpt: Path,
    config: dict,
    steps: int,
    batch_size: int,
    seed: int,
    scale: float,
    device: str,
    checkpoint_every: int,
    progress: bool = True,
    desc: str = "train-sae",
) -> int:
    """Train all `trainers` for `steps` on one stream; resume from `ckpt` if present. Returns the steps done here."""
    start = 0
    if ckpt.exists():
        st = load_checkpoint(ckpt, config, device)
        for name, t in trainers.items():
            t.load_state_dict(st["trainers"][name])
        torch.set_rng_state(st["rng"])
        start = int(st["step"])
        for name in trainers:
            truncate_metrics(folders[name] / "metrics.jsonl", start)
    else:
        for name in trainers:
            (folders[name] / "metrics.jsonl").unlink(missing_ok=True)
    batches = _prefetch(store.iter_batches(batch_size, seed=seed, start_batch=start))
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress)
    for step in range(start, steps):
        x = next(batches).to(device, non_blocking=True)
        if torch.is_tensor(scale) or scale != 1.0:  # a transcoder's scale is a vector: one value per end
            x.mul_(scale)
        for name, t in trainers.items():
            rec = t.step(x)
            if len(rec) > 3:
                rec["vectors"] = t.step_no * batch_size
                folders[name].mkdir(parents=True, exist_ok=True)
                jsonl_append(folders[name] / "metrics.jsonl", rec)
                if "fvu" in rec and len(trainers) == 1:
                    bar.set_postfix(fvu=f"{rec['fvu']:.3f}", l0=f"{rec['l0']:.1f}", dead=f"{rec['dead_fraction']:.2f}")
        bar.update(1)
        done = step + 1
        if checkpoint_every and done % checkpoint_every == 0 and done < steps:
            save_checkpoint(
                ckpt,
                {
                    "step": done,
                    "trainers": {n: t.state_dict() for n, t in trainers.items()},
                    "rng": torch.get_rng_state(),
                },
                config,
            )
    bar.close()
    return steps - start
