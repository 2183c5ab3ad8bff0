"""A tiny synthetic activation store (sparse combinations of known directions) for SAE tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from monoscope.io import write_json
from monoscope.stages import finish_stage, open_stage


def make_store(
    folder: Path, n: int = 4096, d: int = 16, n_feat: int = 48, active: int = 3, seed: int = 0, shard: int = 1024
):
    from monoscope.activations import ActivationStore

    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_feat, d)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, n_feat)), axis=1)[:, :active]
    coef = np.zeros((n, n_feat), np.float32)
    np.put_along_axis(coef, idx, rng.random((n, active)).astype(np.float32) + 0.5, axis=1)
    x = coef @ dirs + 0.3
    open_stage(folder, "harvest", {"synthetic": seed, "n": n, "d": d})
    shards = []
    for s, a in enumerate(range(0, n, shard)):
        np.save(folder / f"acts_{s:05d}.npy", x[a : a + shard])
        np.save(folder / f"index_{s:05d}.npy", np.zeros((len(x[a : a + shard]), 5), np.int32))
        shards.append({"acts": f"acts_{s:05d}.npy", "index": f"index_{s:05d}.npy", "n": len(x[a : a + shard])})
    mean_norm = float(np.linalg.norm(x, axis=1).mean())
    write_json(
        folder / "meta.json",
        {
            "format": "monoscope-activations/1",
            "model": "synthetic",
            "model_path": "",
            "hook": "blocks.0.mlp.hook_post",
            "d_in": d,
            "count": n,
            "dtype": "float32",
            "split": "train",
            "n_ctx": 8,
            "exclude_bos": True,
            "data": "",
            "shards": shards,
            "mean": x.mean(0).tolist(),
            "mean_norm": mean_norm,
            "norm_scale": math.sqrt(d) / mean_norm,
        },
    )
    finish_stage(folder)
    return ActivationStore(folder), dirs
