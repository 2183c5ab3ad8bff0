"""Data-parallel SAE training on torch.distributed (gloo on CPU, NCCL on GPU).

    torchrun --nproc_per_node N -m monoscope train-sae --acts STORE --out OUT --distributed ...

Every rank holds the whole SAE, reads its own shards of the store (shard s goes
to rank s mod N) and trains on `batch_size / N` vectors per step. Gradients are
averaged across ranks as they are produced (a post-accumulate hook per
parameter), so each optimiser step sees the gradient of the global batch mean:
the run equals one process fed the concatenation of the ranks' batches, up to
float summation order. Dead-latent statistics are combined across ranks
before they are used (read back from the trainer's own bookkeeping after each
step, so they follow whatever it counts), and resampling runs on identical state everywhere, so the
replicas never drift. Rank 0 writes metrics, checkpoints and the SAE.

A rank that fails makes the others' next collective fail (peer gone) or time
out after `timeout_s`; they then stop with a MonoscopeError instead of hanging.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.io import jsonl_append
from monoscope.sae.checkpoint import CHECKPOINT, load_checkpoint, refuse_other_config, save_checkpoint, truncate_metrics
from monoscope.sae.train import check_d_in, finish_sae, store_source
from monoscope.sae.trainer import SAETrainer, TrainConfig, stage_config
from monoscope.stages import finish_stage, open_stage


def _is_comm_error(e: BaseException) -> bool:
    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and any(
        w in msg for w in ("gloo", "nccl", "connection", "timed out", "timeout", "peer")
    )


def init(device: str = "cpu", timeout_s: float = 120.0) -> tuple[int, int, str]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT). Returns (rank, world, device)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise MonoscopeError(
            "--distributed needs the environment torchrun sets (RANK, WORLD_SIZE); "
            "launch with: torchrun --nproc_per_node N -m monoscope train-sae ... --distributed"
        )
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    cuda = str(device).startswith("cuda")
    if cuda:
        if not torch.cuda.is_available():
            raise MonoscopeError("--device cuda asked for, but this torch build sees no GPU; use --device cpu (gloo)")
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        try:
            dist.init_process_group(
                "nccl" if cuda else "gloo", rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s)
            )
        except Exception as e:  # rendezvous failures come as several types
            raise MonoscopeError(
                f"rank {rank}: could not join the process group of {world} within {timeout_s:.0f} s: "
                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
            ) from None
    return rank, world, device


def rank_shards(n_shards: int, rank: int, world: int) -> list[int]:
    if n_shards < world:
        raise MonoscopeError(
            f"the store has {n_shards} shard(s), fewer than the {world} ranks; harvest with a smaller --shard-size"
        )
    return list(range(rank, n_shards, world))


def local_batch_size(global_batch: int, world: int) -> int:
    if global_batch % world:
        raise MonoscopeError(f"global batch size {global_batch} must be divisible by the {world} ranks")
    return global_batch // world


def average_gradients(module: torch.nn.Module, world: int) -> list:
    """Average each parameter's gradient across ranks the moment backward has produced it."""

    def hook(p: torch.Tensor) -> None:
        dist.all_reduce(p.grad)
        p.grad.div_(world)

    return [p.register_post_accumulate_grad_hook(hook) for p in module.parameters() if p.requires_grad]


class SyncedTrainer:
    """Wraps an SAETrainer so that its statistics and resampling follow the global batch."""

    def __init__(self, trainer: SAETrainer, world: int):
        self.t, self.world = trainer, world
        self.resample_steps = list(trainer.resample_steps)
        trainer.resample_steps = []  # resampled here, after the statistics are global
        for p in trainer.sae.parameters():
            dist.broadcast(p.data, 0)
        self.handles = average_gradients(trainer.sae, world)

    def step(self, x: torch.Tensor) -> dict:
        t = self.t
        since, fires, window = t.since_fired.clone(), t.fire_count.clone(), t.window_vectors
        rec = t.step(x)
        # read what this rank saw from the trainer's own bookkeeping, whenever it chose to count:
        # a latent that fired here has since_fired reset to 0; fire counts may be sampled on some steps only
        fired_here = (t.since_fired == 0).to(torch.int32)
        counted = t.fire_count - fires
        dist.all_reduce(fired_here)
        dist.all_reduce(counted)
        t.fire_count = fires + counted
        t.since_fired = torch.where(fired_here > 0, torch.zeros_like(since), since + x.shape[0] * self.world)
        t.window_vectors = window + (t.window_vectors - window) * self.world
        if t.step_no in self.resample_steps and t.sample_fn is not None and getattr(t.sae, "uses_resampling", True):
            rec["resampled"] = t.resample()
        if "mse" in rec:
            keys = [k for k in ("mse", "fvu", "l0", "sparsity") if k in rec]
            v = torch.tensor([rec[k] for k in keys], dtype=torch.float64, device=x.device)
            dist.all_reduce(v)
            rec.update({k: float(val) / self.world for k, val in zip(keys, v.tolist())})
            rec["dead_fraction"] = (t.since_fired >= t.cfg.dead_window).float().mean().item()
        return rec


def train_sae_distributed(
    store, out: Path | str, cfg: TrainConfig, overwrite: bool = False, progress: bool = True, timeout_s: float = 120.0
):
    """Train on `store` with every rank of the process group; returns the SAE on rank 0, None elsewhere."""
    rank, world, device = init(cfg.device, timeout_s)
    cfg.device = device
    out = Path(out)
    try:
        check_d_in(cfg, store.d_in, store_source(store), store.widths)
        if cfg.sae.is_transcoder:
            raise MonoscopeError("distributed training trains SAEs only; train a transcoder with `train-sae` alone")
        local_batch = local_batch_size(cfg.batch_size, world)
        mine = store.select_shards(rank_shards(len(store.meta["shards"]), rank, world))
        # rank 0 prepares the folder; everyone learns the outcome (or its error) from it
        status = [None]
        stage = {**stage_config(cfg), "store": str(Path(store.folder).resolve()), "world_size": world}
        if rank == 0:
            try:
                refuse_other_config(out, "train-sae", stage, overwrite)
                status = ["done" if open_stage(out, "train-sae", stage, overwrite) else "go"]
            except MonoscopeError as e:
                status = [f"error: {e}"]
        dist.broadcast_object_list(status, 0)
        if status[0].startswith("error: "):
            raise MonoscopeError(
                status[0][7:] if rank == 0 else f"rank {rank}: rank 0 refused the output folder: {status[0][7:]}"
            )
        if status[0] == "done":
            from monoscope.sae.io import load_sae

            return load_sae(out, device) if rank == 0 else None
        scale = store.norm_scale if cfg.normalize_activations else 1.0

        def sample_fn(n: int, seed: int) -> torch.Tensor:  # the whole store: identical on every rank
            return store.sample(n, seed) * scale

        trainer = SAETrainer(cfg, sample_fn=sample_fn)
        ckpt, metrics = out / CHECKPOINT, out / "metrics.jsonl"
        if ckpt.exists():  # the same file every rank reads; its configuration must be this run's
            trainer.load_state_dict(load_checkpoint(ckpt, stage, device)["trainers"]["sae"])
            if rank == 0:
                truncate_metrics(metrics, trainer.step_no)
        elif rank == 0:
            metrics.unlink(missing_ok=True)
        synced = SyncedTrainer(trainer, world)
        pin = str(device).startswith("cuda")
        batches = mine.iter_batches(
            local_batch, seed=cfg.seed * 1000 + rank, start_batch=trainer.step_no, pin_memory=pin
        )
        t0, start = time.time(), trainer.step_no
        bar = tqdm(
            total=cfg.steps, initial=trainer.step_no, desc=f"train-sae x{world}", disable=not progress or rank != 0
        )
        while trainer.step_no < cfg.steps:
            x = next(batches).to(device, non_blocking=True) * scale
            rec = synced.step(x)
            if rank == 0 and len(rec) > 3:
                jsonl_append(metrics, {**rec, "vectors": trainer.step_no * cfg.batch_size})
            bar.update(1)
            if (
                rank == 0
                and cfg.checkpoint_every
                and trainer.step_no % cfg.checkpoint_every == 0
                and trainer.step_no < cfg.steps
            ):
                save_checkpoint(ckpt, {"step": trainer.step_no, "trainers": {"sae": trainer.state_dict()}}, stage)
        bar.close()
        dist.barrier()
        sae = None
        if rank == 0:
            sae = finish_sae(
                trainer,
                out,
                store.meta,
                store.hook,
                scale,
                time.time() - t0,
                cfg.steps - start,
                extra={"world_size": world, "local_batch": local_batch},
            )
            ckpt.unlink(missing_ok=True)
            finish_stage(out)
        dist.barrier()
        return sae
    except MonoscopeError:
        raise
    except Exception as e:
        if _is_comm_error(e):
            raise MonoscopeError(
                f"rank {rank}: lost the other ranks ({str(e).splitlines()[0][:160]}); "
                "another rank probably failed, see its error above"
            ) from None
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
