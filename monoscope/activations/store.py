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
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from monoscope.data.fingerprint import check_model_reads
from monoscope.errors import MonoscopeError
from monoscope.io import read_json, write_json
from monoscope.precision import autocast, pin, resolve_dtype
from monoscope.stages import finish_stage, open_stage, require_stage

INDEX_COLUMNS = ("token", "doc", "pos", "row", "col")


@dataclass
class HarvestConfig:
    hook: str = "blocks.0.mlp.hook_post"
    # a second hook stored beside the first in each row [hook | target_hook]: both ends of a transcoder
    target_hook: str | None = None
    split: str = "train"
    max_tokens: int | None = None
    batch_contexts: int = 64
    shard_size: int = 1 << 16
    dtype: str = "float32"  # how vectors are stored
    exclude_bos: bool = True  # keep only the positions that count (data/positions.py: no BOS, no separator)
    device: str = "cpu"
    model_dtype: str = "float32"  # forward precision (bfloat16/float16 autocast on CUDA); vectors leave it as float32

    def __post_init__(self):
        if self.dtype not in ("float32", "float16"):
            raise MonoscopeError(f"store dtype must be float32 or float16, got {self.dtype!r}")
        if self.shard_size <= 0 or self.batch_contexts <= 0:
            raise MonoscopeError("shard_size and batch_contexts must be positive")


_HEADER = 128  # fixed .npy header size, so a shard's final row count can be written last


def _npy_header(dtype: np.dtype, shape: tuple[int, int]) -> bytes:
    body = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
    body += " " * (_HEADER - 10 - len(body) - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin1")


class _ShardFile:
    """One .npy file written row block by row block, named only once complete."""

    def __init__(self, path: Path, dtype: np.dtype, width: int):
        self.path, self.dtype, self.width, self.n = path, dtype, width, 0
        self.tmp = path.with_name(path.name + ".tmp")
        self.fh = open(self.tmp, "wb")  # noqa: SIM115 -- held open across write()/skip() until close()
        self.fh.write(b"\0" * _HEADER)

    def write(self, rows: np.ndarray) -> None:
        np.ascontiguousarray(rows, dtype=self.dtype).tofile(self.fh)
        self.n += len(rows)

    def skip(self, n: int) -> None:
        """Leave n rows of zeros without writing them (a sparse file: no disk used)."""
        self.fh.seek(n * self.width * self.dtype.itemsize, 1)
        self.n += n

    def close(self) -> None:
        self.fh.truncate(_HEADER + self.n * self.width * self.dtype.itemsize)
        self.fh.seek(0)
        self.fh.write(_npy_header(self.dtype, (self.n, self.width)))
        self.fh.flush()
        os.fsync(self.fh.fileno())  # on disk before it takes its name: a crash never leaves a named torn shard
        self.fh.close()
        self.tmp.replace(self.path)


class _ShardWriter:
    """Streams vectors into shards of `shard_size` rows with no staging copy, keeping running statistics."""

    def __init__(self, folder: Path, d_in: int, shard_size: int, dtype: str):
        self.folder, self.d_in, self.shard_size, self.dtype = folder, d_in, shard_size, np.dtype(dtype)
        self.shards: list[dict] = []
        self.sum = np.zeros(d_in, dtype=np.float64)
        self.norm_sum = 0.0
        self.sq_sum = 0.0
        self.count = 0
        self._files: tuple[_ShardFile, _ShardFile] | None = None

    def add(self, acts: np.ndarray, index: np.ndarray) -> None:
        sq = (
            np.einsum("ij,ij->i", acts, acts, dtype=np.float64)
            if acts.dtype == np.float64
            else np.einsum("ij,ij->i", acts, acts)
        )
        sq_sum, batch_sum = float(sq.sum(dtype=np.float64)), acts.sum(0, dtype=np.float64)
        if not (np.isfinite(sq_sum) and np.isfinite(batch_sum).all()):  # any NaN/inf reaches these sums
            raise MonoscopeError(
                "activations contain NaN or inf; the model or its inputs are broken, store not written"
            )
        self.sum += batch_sum
        self.norm_sum += float(np.sqrt(sq, dtype=np.float64).sum())
        self.sq_sum += sq_sum
        self.count += len(acts)
        i = 0
        while i < len(acts):
            if self._files is None:
                k = len(self.shards)
                self._files = (
                    _ShardFile(self.folder / f"acts_{k:05d}.npy", self.dtype, self.d_in),
                    _ShardFile(self.folder / f"index_{k:05d}.npy", np.dtype(np.int32), len(INDEX_COLUMNS)),
                )
            fa, fi = self._files
            take = min(len(acts) - i, self.shard_size - fa.n)
            fa.write(acts[i : i + take])
            fi.write(index[i : i + take]) if index is not None else fi.skip(take)
            i += take
            if fa.n == self.shard_size:
                self._flush()

    def _flush(self) -> None:
        fa, fi = self._files
        fa.close()
        fi.close()
        self.shards.append({"acts": fa.path.name, "index": fi.path.name, "n": int(fa.n)})
        self._files = None

    def close(self) -> None:
        if self._files is not None:
            self._flush()


@torch.no_grad()
def harvest(
    model,
    dataset,
    out: Path | str,
    cfg: HarvestConfig | None = None,
    overwrite: bool = False,
    model_name: str = "",
    model_path: str = "",
    progress: bool = True,
) -> ActivationStore:
    """Run the model over a split and store the activations at one hook (or two side by side, `target_hook`)."""
    cfg = cfg or HarvestConfig()
    out = Path(out)
    model.check_hook(cfg.hook)
    hooks = [cfg.hook] if cfg.target_hook is None else [cfg.hook, model.check_hook(cfg.target_hook).name]
    if model_path:
        check_model_reads(model_path, dataset.identity())
    split = dataset.split(cfg.split)
    compute = resolve_dtype(cfg.device, cfg.model_dtype)
    stage_cfg = {**cfg.__dict__, "model": model_name, "model_path": model_path, "data": str(dataset.folder.resolve())}
    stage_cfg.pop("device")
    if cfg.model_dtype == "float32":  # added later: stores harvested before it keep their stamp
        stage_cfg.pop("model_dtype")
    if cfg.target_hook is None:  # added later too
        stage_cfg.pop("target_hook")
    if open_stage(out, "harvest", stage_cfg, overwrite):
        return ActivationStore(out)
    for p in [*out.glob("*.npy"), *out.glob("*.npy.tmp")]:
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
        with autocast(device, compute):
            _, cache = model.run_with_cache(t.to(device), names=hooks, stop_early=True)
        for h in hooks:
            if cache[h].dim() != 3:
                raise MonoscopeError(
                    f"hook {h} gives shape {tuple(cache[h].shape)}; expected [batch, position, d] "
                    "(pick a hook with one vector per token)"
                )
        widths = [int(cache[h].shape[-1]) for h in hooks]
        acts = torch.cat([cache[h].float() for h in hooks], -1)
        d_in = acts.shape[-1]
        if writer is None:
            writer = _ShardWriter(out, d_in, cfg.shard_size, cfg.dtype)
        row_ids = torch.arange(r0, r1)[:, None].expand(-1, n_ctx)
        col_ids = torch.arange(n_ctx)[None].expand(r1 - r0, -1)
        index = torch.stack([t, docs[r0:r1], poss[r0:r1], row_ids, col_ids], -1).reshape(-1, 5)
        flat = acts.reshape(-1, d_in).float().cpu()
        if cfg.exclude_bos:
            keep = dataset.positions.mask(t).reshape(-1)
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
        **({"target_hook": cfg.target_hook, "widths": widths} if cfg.target_hook else {}),
        "d_in": writer.d_in,
        "count": writer.count,
        "dtype": cfg.dtype,
        "model_dtype": cfg.model_dtype,
        "split": cfg.split,
        "n_ctx": n_ctx,
        "exclude_bos": cfg.exclude_bos,
        "prepend_bos": bool(getattr(dataset, "meta", {}).get("prepend_bos", True)),
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


def write_store(
    out: Path | str,
    batches,
    hook: str = "synthetic",
    dtype: str = "float32",
    shard_size: int = 1 << 16,
    meta: dict | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> ActivationStore:
    """A store from vectors that come from elsewhere (synthetic benchmarks, other tools): `batches` yields
    float arrays [n, d_in], or (vectors, index [n, 5]) pairs; without an index the index files stay zero and sparse."""
    out = Path(out)
    if open_stage(
        out,
        "harvest",
        {"hook": hook, "dtype": dtype, "shard_size": shard_size, "source": "write_store", **(meta or {})},
        overwrite,
    ):
        return ActivationStore(out)
    writer = None
    bar = tqdm(desc=f"write {hook}", unit="vec", unit_scale=True, disable=not progress)
    for b in batches:
        acts, index = b if isinstance(b, tuple) else (b, None)
        acts = np.asarray(acts)
        if acts.ndim != 2:
            raise MonoscopeError(f"write_store expects [n, d_in] arrays, got shape {acts.shape}")
        if writer is None:
            writer = _ShardWriter(out, acts.shape[1], shard_size, dtype)
        elif acts.shape[1] != writer.d_in:
            raise MonoscopeError(f"vectors of width {acts.shape[1]} after width {writer.d_in}; a store holds one width")
        writer.add(acts, None if index is None else np.asarray(index, dtype=np.int32))
        bar.update(len(acts))
    bar.close()
    if writer is None or writer.count == 0:
        raise MonoscopeError("write_store got no vectors")
    writer.close()
    mean_norm = writer.norm_sum / writer.count
    write_json(
        out / "meta.json",
        {
            "format": "monoscope-activations/1",
            "model": "",
            "model_path": "",
            "hook": hook,
            "d_in": writer.d_in,
            "count": writer.count,
            "dtype": dtype,
            "n_ctx": None,
            "exclude_bos": False,
            "index_columns": list(INDEX_COLUMNS),
            **(meta or {}),
            "shards": writer.shards,
            "mean": (writer.sum / writer.count).tolist(),
            "mean_norm": mean_norm,
            "mean_sq_norm": writer.sq_sum / writer.count,
            "norm_scale": math.sqrt(writer.d_in) / mean_norm if mean_norm > 0 else 1.0,
        },
    )
    finish_stage(out)
    return ActivationStore(out)


def _check_shard_name(name, folder: Path) -> None:
    """A shard is a plain file inside the store: a name from meta.json never leads outside it."""
    if (
        not isinstance(name, str)
        or not name.endswith(".npy")
        or Path(name).name != name
        or name.startswith(".")
        or "\\" in name
    ):
        raise MonoscopeError(
            f"{folder}/meta.json names shard {name!r}; shards must be plain .npy file names inside the store"
        )


class ActivationStore:
    """Read side of a store: random access, trace-back, and shuffled streaming batches."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        require_stage(self.folder, "harvest")
        self.meta = read_json(self.folder / "meta.json", "activation store metadata")
        self.d_in: int = int(self.meta["d_in"])
        self.count: int = int(self.meta["count"])
        self.hook: str = self.meta["hook"]
        # a paired store (a transcoder's): each row is [hook | target_hook] of widths `widths`
        self.target_hook: str | None = self.meta.get("target_hook")
        self.widths: list[int] = [int(w) for w in self.meta.get("widths", [self.d_in])]
        if sum(self.widths) != self.d_in:
            raise MonoscopeError(f"{self.folder}/meta.json: widths {self.widths} do not add up to d_in={self.d_in}")
        self._acts: list[np.ndarray] = []
        self._index: list[np.ndarray] = []
        shards = self.meta.get("shards")
        if not isinstance(shards, list) or not all(
            isinstance(s, dict) and {"acts", "index", "n"} <= set(s) for s in shards
        ):
            raise MonoscopeError(f"{self.folder}/meta.json: 'shards' must list {{acts, index, n}} entries")
        for s in shards:
            for name in (s["acts"], s["index"]):
                _check_shard_name(name, self.folder)
            if not isinstance(s["n"], int) or s["n"] < 0:
                raise MonoscopeError(f"{self.folder}/meta.json: shard {s['acts']} has row count {s['n']!r}")
            try:
                a = np.load(self.folder / s["acts"], mmap_mode="r", allow_pickle=False)
                i = np.load(self.folder / s["index"], mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as e:
                raise MonoscopeError(
                    f"activation shard {s['acts']} in {self.folder} is missing or corrupt: {e}"
                ) from None
            for name, arr, want in ((s["acts"], a, (s["n"], self.d_in)), (s["index"], i, (s["n"], len(INDEX_COLUMNS)))):
                if arr.shape != want:
                    raise MonoscopeError(
                        f"shard {name} in {self.folder} has shape {arr.shape}, meta.json says {want}; "
                        "the store is torn or edited: harvest it again with --overwrite"
                    )
            self._acts.append(a)
            self._index.append(i)
        self._starts = np.cumsum([0] + [s["n"] for s in shards])
        if int(self._starts[-1]) != self.count:
            raise MonoscopeError(
                f"{self.folder}/meta.json says count {self.count} but its shards hold {int(self._starts[-1])} "
                "vectors; the store is torn or edited: harvest it again with --overwrite"
            )

    @property
    def norm_scale(self) -> float:
        return float(self.meta["norm_scale"])

    def __len__(self) -> int:
        return self.count

    def _locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shard = np.searchsorted(self._starts, rows, side="right") - 1
        return shard, rows - self._starts[shard]

    def _gather(self, arr: np.ndarray, name: str, local: np.ndarray) -> np.ndarray:
        """Rows of one shard file (any order) by positioned reads, one per run of consecutive rows.

        Indexing the memory map instead would fault in the kernel's readahead
        around every row and keep it mapped: sampling 8,192 random rows of a
        100M-vector store then costs gigabytes of resident memory.
        """
        offset = getattr(arr, "offset", None)
        if offset is None:
            return np.asarray(arr[local])
        uniq, inv = np.unique(local, return_inverse=True)
        width, rowb = arr.shape[1], arr.shape[1] * arr.dtype.itemsize
        buf = np.empty((len(uniq), width), dtype=arr.dtype)
        cuts = np.flatnonzero(np.diff(uniq) != 1) + 1
        with open(self.folder / name, "rb") as fh:
            fd = fh.fileno()
            for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(uniq)]])):
                os.preadv(fd, [memoryview(buf[a:b]).cast("B")], offset + int(uniq[a]) * rowb)
        return buf[inv.reshape(-1)]

    def read(self, rows) -> torch.Tensor:
        """Vectors at global rows (any order), as float32."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.d_in), dtype=np.float32)
        shard, local = self._locate(rows)
        for s in np.unique(shard):
            m = shard == s
            out[m] = self._gather(self._acts[s], self.meta["shards"][s]["acts"], local[m])
        return torch.from_numpy(out)

    def index(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        shard, local = self._locate(rows)
        out = np.empty((len(rows), 5), dtype=np.int64)
        for s in np.unique(shard):
            m = shard == s
            out[m] = self._gather(self._index[s], self.meta["shards"][s]["index"], local[m])
        return out

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        g = np.random.default_rng(seed)
        return self.read(np.sort(g.choice(self.count, size=min(n, self.count), replace=False)))

    def read_block(self, shard: int, a: int, b: int) -> np.ndarray:
        """Rows a:b of one shard by a plain file read: unlike slicing the memory map, the pages
        read do not stay mapped in this process, so streaming a store of any size keeps RSS flat."""
        arr = self._acts[shard]
        offset = getattr(arr, "offset", None)
        if offset is None:  # not a file-backed map (e.g. a subclass holding arrays in memory)
            return np.asarray(arr[a:b])
        with open(self.folder / self.meta["shards"][shard]["acts"], "rb") as fh:
            fh.seek(offset + a * self.d_in * arr.dtype.itemsize)
            return np.fromfile(fh, dtype=arr.dtype, count=(b - a) * self.d_in).reshape(b - a, self.d_in)

    def select_shards(self, shards) -> ActivationStore:
        """A view holding only some shards (e.g. one rank's share under data-parallel training)."""
        import copy

        ids = [int(s) for s in shards]
        if not ids:
            raise MonoscopeError(f"no shards selected from {self.folder} ({len(self.meta['shards'])} shards)")
        view = copy.copy(self)
        view.meta = {**self.meta, "shards": [self.meta["shards"][i] for i in ids]}
        view._acts = [self._acts[i] for i in ids]
        view._index = [self._index[i] for i in ids]
        view._starts = np.cumsum([0] + [s["n"] for s in view.meta["shards"]])
        view.count = int(view._starts[-1])
        return view

    # ---- shuffled streaming ------------------------------------------------
    def _blocks(self, block: int) -> list[tuple[int, int, int]]:
        out = []
        for s, sh in enumerate(self.meta["shards"]):
            for a in range(0, sh["n"], block):
                out.append((s, a, min(sh["n"], a + block)))
        return out

    def iter_batches(
        self,
        batch_size: int,
        seed: int = 0,
        start_batch: int = 0,
        block: int = 4096,
        group_blocks: int = 16,
        epochs: int | None = None,
        pin_memory: bool = False,
    ) -> Iterator[torch.Tensor]:
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
                data = np.concatenate([self.read_block(s, a, b) for s, a, b in grp]).astype(np.float32, copy=False)
                data = data[np.random.default_rng(perm_seed).permutation(size)]
                if skip:
                    data, skip = data[skip:], 0
                carry.append(data)
                have += len(data)
                while have >= batch_size:
                    buf = np.concatenate(carry) if len(carry) > 1 else carry[0]
                    out = torch.from_numpy(np.ascontiguousarray(buf[:batch_size]))
                    yield pin(out) if pin_memory else out
                    carry, have = [buf[batch_size:]], have - batch_size
            epoch += 1
