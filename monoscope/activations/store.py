"""On-disk activation stores: sharded `.npy` vectors with a trace-back index, and shuffled streaming reads.

Layout of a store folder (one hook of one model):

    meta.json            model, hook, d_in, count, dtype, shards, normalisation statistics
    acts_00000.npy       [n, d_in] float32 (or float16) vectors, memory-mappable
    index_00000.npy      [n, 5] int32: token id, document id, position in document,
                          context row, position in context

Every vector leads back to its text through (document, position) and
(context row, position). The reader streams shuffled batches with bounded
memory (a few blocks at a time) and can resume at any batch number.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.io import read_json, write_json
from monoscope.runs import finish_stage, open_stage, require_stage

INDEX_COLUMNS = ("token", "doc", "pos", "row", "col")


def _save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, arr)
    tmp.replace(path)


@dataclass
class HarvestConfig:
    hook: str = "blocks.0.mlp.hook_post"
    split: str = "train"
    max_tokens: int | None = None
    batch_contexts: int = 64
    shard_size: int = 1 << 16
    dtype: str = "float32"
    exclude_bos: bool = True
    device: str = "cpu"

    def __post_init__(self):
        if self.dtype not in ("float32", "float16"):
            raise MonoscopeError(f"store dtype must be float32 or float16, got {self.dtype!r}")
        if self.shard_size <= 0 or self.batch_contexts <= 0:
            raise MonoscopeError("shard_size and batch_contexts must be positive")


class _ShardWriter:
    def __init__(self, folder: Path, d_in: int, shard_size: int, dtype: str):
        self.folder, self.d_in, self.shard_size, self.dtype = folder, d_in, shard_size, np.dtype(dtype)
        self.acts: list[np.ndarray] = []
        self.index: list[np.ndarray] = []
        self.pending = 0
        self.shards: list[dict] = []
        self.sum = np.zeros(d_in, dtype=np.float64)
        self.norm_sum = 0.0
        self.sq_sum = 0.0
        self.count = 0

    def add(self, acts: np.ndarray, index: np.ndarray) -> None:
        if not np.isfinite(acts).all():
            raise MonoscopeError("activations contain NaN or inf; the model or its inputs are broken, store not written")
        a64 = acts.astype(np.float64)
        self.sum += a64.sum(0)
        norms = np.sqrt((a64 ** 2).sum(1))
        self.norm_sum += norms.sum()
        self.sq_sum += (norms ** 2).sum()
        self.count += len(acts)
        self.acts.append(acts.astype(self.dtype))
        self.index.append(index.astype(np.int32))
        self.pending += len(acts)
        while self.pending >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, n: int) -> None:
        acts, index = np.concatenate(self.acts), np.concatenate(self.index)
        k = len(self.shards)
        a_name, i_name = f"acts_{k:05d}.npy", f"index_{k:05d}.npy"
        _save_npy(self.folder / a_name, acts[:n])
        _save_npy(self.folder / i_name, index[:n])
        self.shards.append({"acts": a_name, "index": i_name, "n": int(n)})
        self.acts, self.index = [acts[n:]], [index[n:]]
        self.pending = len(acts) - n

    def close(self) -> None:
        if self.pending:
            self._flush(self.pending)


@torch.no_grad()
def harvest(model, dataset, out: Path | str, cfg: HarvestConfig | None = None, overwrite: bool = False,
            model_name: str = "", model_path: str = "", progress: bool = True) -> "ActivationStore":
    """Run the model over a split and store the activations at one hook."""
    cfg = cfg or HarvestConfig()
    out = Path(out)
    model.check_hook(cfg.hook)
    split = dataset.split(cfg.split)
    stage_cfg = {**cfg.__dict__, "model": model_name, "model_path": model_path, "data": str(dataset.folder.resolve())}
    stage_cfg.pop("device")
    if open_stage(out, "harvest", stage_cfg, overwrite):
        return ActivationStore(out)
    for p in out.glob("*.npy"):
        p.unlink()
    tokens, docs, poss = split.tokens, split.doc, split.pos
    n_ctx = tokens.shape[1]
    rows = len(tokens)
    if cfg.max_tokens:
        rows = min(rows, math.ceil(cfg.max_tokens / (n_ctx - cfg.exclude_bos)))
    if rows == 0:
        raise MonoscopeError(f"the {cfg.split} split is empty; nothing to harvest")
    writer = None
    t0 = time.time()
    device = cfg.device
    bar = tqdm(total=rows * n_ctx, desc=f"harvest {cfg.hook}", unit="tok", unit_scale=True, disable=not progress)
    for r0 in range(0, rows, cfg.batch_contexts):
        r1 = min(rows, r0 + cfg.batch_contexts)
        t = tokens[r0:r1]
        _, cache = model.run_with_cache(t.to(device), names=[cfg.hook], stop_early=True)
        acts = cache[cfg.hook]
        if acts.dim() != 3:
            raise MonoscopeError(f"hook {cfg.hook} gives shape {tuple(acts.shape)}; expected [batch, position, d] (pick a hook with one vector per token)")
        d_in = acts.shape[-1]
        if writer is None:
            writer = _ShardWriter(out, d_in, cfg.shard_size, cfg.dtype)
        row_ids = torch.arange(r0, r1)[:, None].expand(-1, n_ctx)
        col_ids = torch.arange(n_ctx)[None].expand(r1 - r0, -1)
        index = torch.stack([t, docs[r0:r1], poss[r0:r1], row_ids, col_ids], -1).reshape(-1, 5)
        flat = acts.reshape(-1, d_in).float().cpu()
        if cfg.exclude_bos:
            keep = index[:, 2] >= 0
            flat, index = flat[keep], index[keep]
        writer.add(flat.numpy(), index.numpy())
        bar.update((r1 - r0) * n_ctx)
    bar.close()
    writer.close()
    mean = writer.sum / writer.count
    mean_norm = writer.norm_sum / writer.count
    meta = {
        "format": "monoscope-activations/1",
        "model": model_name,
        "model_path": model_path,
        "hook": cfg.hook,
        "d_in": writer.d_in,
        "count": writer.count,
        "dtype": cfg.dtype,
        "split": cfg.split,
        "n_ctx": n_ctx,
        "exclude_bos": cfg.exclude_bos,
        "data": str(dataset.folder.resolve()),
        "index_columns": list(INDEX_COLUMNS),
        "shards": writer.shards,
        "mean": mean.tolist(),
        "mean_norm": mean_norm,
        "mean_sq_norm": writer.sq_sum / writer.count,
        # SAELens's normalize_activations="expected_average_only_in": scale so E||x|| = sqrt(d_in)
        "norm_scale": math.sqrt(writer.d_in) / mean_norm if mean_norm > 0 else 1.0,
        "seconds": round(time.time() - t0, 2),
    }
    write_json(out / "meta.json", meta)
    finish_stage(out)
    return ActivationStore(out)


class ActivationStore:
    """Read side of a store: random access, trace-back, and shuffled streaming batches."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        require_stage(self.folder, "harvest")
        self.meta = read_json(self.folder / "meta.json", "activation store metadata")
        self.d_in: int = int(self.meta["d_in"])
        self.count: int = int(self.meta["count"])
        self.hook: str = self.meta["hook"]
        self._acts: list[np.ndarray] = []
        self._index: list[np.ndarray] = []
        for s in self.meta["shards"]:
            try:
                a = np.load(self.folder / s["acts"], mmap_mode="r")
                i = np.load(self.folder / s["index"], mmap_mode="r")
            except (OSError, ValueError) as e:
                raise MonoscopeError(f"activation shard {s['acts']} in {self.folder} is missing or corrupt: {e}") from None
            if a.shape != (s["n"], self.d_in) or i.shape != (s["n"], 5):
                raise MonoscopeError(f"shard {s['acts']} has shape {a.shape}, expected ({s['n']}, {self.d_in})")
            self._acts.append(a)
            self._index.append(i)
        self._starts = np.cumsum([0] + [s["n"] for s in self.meta["shards"]])

    @property
    def norm_scale(self) -> float:
        return float(self.meta["norm_scale"])

    def __len__(self) -> int:
        return self.count

    def _locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shard = np.searchsorted(self._starts, rows, side="right") - 1
        return shard, rows - self._starts[shard]

    def read(self, rows) -> torch.Tensor:
        """Vectors at global rows (any order), as float32."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.d_in), dtype=np.float32)
        shard, local = self._locate(rows)
        for s in np.unique(shard):
            m = shard == s
            out[m] = self._acts[s][np.sort(local[m])][np.argsort(np.argsort(local[m]))]
        return torch.from_numpy(out)

    def index(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        shard, local = self._locate(rows)
        out = np.empty((len(rows), 5), dtype=np.int64)
        for s in np.unique(shard):
            m = shard == s
            out[m] = self._index[s][local[m]]
        return out

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        g = np.random.default_rng(seed)
        return self.read(np.sort(g.choice(self.count, size=min(n, self.count), replace=False)))

    # ---- shuffled streaming ------------------------------------------------
    def _blocks(self, block: int) -> list[tuple[int, int, int]]:
        out = []
        for s, sh in enumerate(self.meta["shards"]):
            for a in range(0, sh["n"], block):
                out.append((s, a, min(sh["n"], a + block)))
        return out

    def iter_batches(self, batch_size: int, seed: int = 0, start_batch: int = 0, block: int = 4096,
                     group_blocks: int = 16, epochs: int | None = None) -> Iterator[torch.Tensor]:
        """Endless shuffled batches (or `epochs` passes). Memory: `group_blocks * block` vectors.

        Each epoch permutes blocks across shards, then rows within each group of
        blocks. Batch b is a pure function of (seed, b): resuming at `start_batch`
        reads only the group it falls in.
        """
        if batch_size <= 0:
            raise MonoscopeError(f"batch_size must be positive, got {batch_size}")
        blocks = self._blocks(block)
        skip = start_batch * batch_size  # rows of the stream already consumed
        epoch = skip // self.count
        skip -= epoch * self.count
        carry: list[np.ndarray] = []
        have = 0
        while epochs is None or epoch < epochs:
            g = np.random.default_rng([seed, epoch])
            order = g.permutation(len(blocks))
            for gi in range(0, len(order), group_blocks):
                grp = [blocks[j] for j in order[gi : gi + group_blocks]]
                size = sum(b - a for _, a, b in grp)
                perm_seed = [seed, epoch, gi]
                if skip >= size:
                    skip -= size
                    continue
                data = np.concatenate([self._acts[s][a:b] for s, a, b in grp]).astype(np.float32, copy=False)
                data = data[np.random.default_rng(perm_seed).permutation(size)]
                if skip:
                    data, skip = data[skip:], 0
                carry.append(data)
                have += len(data)
                while have >= batch_size:
                    buf = np.concatenate(carry) if len(carry) > 1 else carry[0]
                    yield torch.from_numpy(np.ascontiguousarray(buf[:batch_size]))
                    carry, have = [buf[batch_size:]], have - batch_size
            epoch += 1
