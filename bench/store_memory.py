"""Peak memory while training from a 100M-vector store on disk.

Writes a synthetic store (default 20M vectors, d_in 64, float16 = 2.6 GB; the
index files are sparse and take no disk), then trains an SAE from it in a child
process that streams shuffled batches drawn across all shards. One figure: the
child's peak RSS (its VmHWM) against the store's size on disk (`ratio` = the
share of the store ever resident). The store is deleted afterwards unless --keep.

    python bench/store_memory.py [--vectors 1e8] [--folder /tmp/bench_store]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np


def peak_rss_gib() -> float:
    """This process's high-water RSS (VmHWM; unlike ru_maxrss it is not inherited across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def write(folder: Path, n: int, d_in: int, dtype: str, shard_size: int) -> float:
    from monoscope.activations.store import write_store

    rng = np.random.default_rng(0)
    # a pool of sparse non-negative vectors (like MLP neurons); every chunk is a fresh random draw from it, rescaled
    pool = (np.maximum(rng.standard_normal((1 << 18, d_in)), 0) * (rng.random((1 << 18, d_in)) < 0.2)).astype(
        np.float32
    )
    chunk = 1 << 18

    def batches():
        for i in range(0, n, chunk):
            m = min(chunk, n - i)
            yield pool[rng.integers(0, len(pool), m)] * rng.uniform(0.5, 1.5, (m, 1)).astype(np.float32)

    t0 = time.time()
    write_store(folder, batches(), hook="synthetic", dtype=dtype, shard_size=shard_size, overwrite=True, progress=True)
    return time.time() - t0


def train(folder: Path, vectors: int, d_sae: int, batch: int, device: str) -> None:
    """Child process: train from the store, report peak RSS."""
    from monoscope.activations import ActivationStore
    from monoscope.sae import SAEConfig, TrainConfig, train_sae

    store = ActivationStore(folder)
    t0 = time.time()
    cfg = TrainConfig(
        sae=SAEConfig("relu", store.d_in, d_sae),
        total_vectors=vectors,
        batch_size=batch,
        checkpoint_every=0,
        resample_samples=8192,
        device=device,
    )
    train_sae(store, folder.parent / (folder.name + "_sae"), cfg, overwrite=True, progress=False)
    print(
        json.dumps(
            {
                "store_vectors": store.count,
                "train_vectors": vectors,
                "seconds": round(time.time() - t0, 1),
                "child_peak_rss_gib": peak_rss_gib(),
            }
        )
    )


def main() -> None:
    ap = common.parser(__doc__, run=False)
    ap.add_argument("--folder", default=None, help="store folder (default: a fresh temporary one)")
    ap.add_argument("--vectors", type=float, default=2e7)
    ap.add_argument("--d-in", type=int, default=64)
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    ap.add_argument("--shard-size", type=int, default=1 << 20)
    ap.add_argument(
        "--train-vectors", type=float, default=4e6, help="vectors streamed through training (drawn across all shards)"
    )
    ap.add_argument("--d-sae", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    common.check_device(a.device)
    made = a.folder is None
    folder = Path(a.folder) if a.folder else Path(tempfile.mkdtemp(prefix="bench_store_")) / "store"
    if a.quick and not a.child:
        a.vectors, a.train_vectors, a.shard_size, a.batch_size = 2e5, 1e5, 1 << 15, 1024
    if a.child:
        return train(folder, int(a.train_vectors), a.d_sae, a.batch_size, a.device)
    if folder.exists() and any(folder.iterdir()) and not (folder / "meta.json").exists():
        common.fail(f"{folder} exists and is not an activation store; pass another --folder")
    sae_out = folder.parent / (folder.name + "_sae")
    if sae_out.exists() and not (sae_out / "monoscope_stage.json").exists():
        common.fail(f"{sae_out} exists and was not written by monoscope; pass another --folder")
    write_s = None
    try:
        if not (folder / "meta.json").exists():
            made = True
            write_s = write(folder, int(a.vectors), a.d_in, a.dtype, a.shard_size)
        writer_rss = peak_rss_gib()
        r = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--folder",
                str(folder),
                "--train-vectors",
                str(a.train_vectors),
                "--d-sae",
                str(a.d_sae),
                "--batch-size",
                str(a.batch_size),
                "--device",
                a.device,
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode:
            sys.exit(r.stderr[-3000:])
        child = json.loads(r.stdout.strip().splitlines()[-1])
        disk = sum(p.stat().st_blocks * 512 for p in folder.glob("*.npy")) / 2**30
        common.Recorder("store_memory", a).figure(
            "peak memory, training from a store",
            child["child_peak_rss_gib"],
            "GiB",
            "store size on disk",
            disk,
            writer_peak_rss_gib=round(writer_rss, 3),
            store_vectors=child["store_vectors"],
            train_vectors=child["train_vectors"],
            d_in=a.d_in,
            dtype=a.dtype,
            write_seconds=round(write_s, 1) if write_s else None,
            train_seconds=child["seconds"],
        )
    finally:  # only what this run wrote; a store passed in with --folder is the user's
        if made and not a.keep:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(sae_out, ignore_errors=True)
        if a.folder is None and not a.keep:
            shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
