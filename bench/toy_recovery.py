"""Ground-truth recovery by every registered SAE architecture (issue 7).

N = 512 known unit directions in d = 64, ~5 active per vector with power-law
frequencies and correlated groups; each architecture in
monoscope.sae.ARCHITECTURES is trained with SAETrainer and scored.
Prints one JSON line per architecture: arch, mmcs, recovered, dead (+ details).

    .venv/bin/python bench/toy_recovery.py [--vectors 1000000] [--arch relu topk]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from monoscope.toy.recovery import RecoveryConfig, architectures, fit_and_score  # noqa: E402
from monoscope.toy.synthetic import SyntheticFeatures  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-true", type=int, default=512)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--mean-active", type=float, default=5.0)
    p.add_argument("--d-sae", type=int, default=1024)
    p.add_argument("--vectors", type=int, default=1_000_000)
    p.add_argument("--arch", nargs="+", default=())
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = RecoveryConfig(
        n_true=a.n_true,
        d=a.d,
        mean_active=a.mean_active,
        d_sae=a.d_sae,
        vectors=a.vectors,
        archs=tuple(a.arch),
        seed=a.seed,
    )
    data = SyntheticFeatures(cfg.synthetic())
    for arch in architectures(cfg):
        row = fit_and_score(arch, data, cfg, progress=False)
        print(
            json.dumps(
                {
                    "arch": row["arch"],
                    "mmcs": round(row["mmcs"], 4),
                    "recovered": round(row["recovered"], 4),
                    "dead": round(row["dead"], 4),
                    "l0": round(row["l0"], 2),
                    "fvu": round(row["fvu"], 4),
                    "k": row["k"],
                    "sparsity_coef": row["sparsity_coef"],
                    "n_true": a.n_true,
                    "d": a.d,
                    "d_sae": a.d_sae,
                    "vectors": a.vectors,
                    "train_seconds": row["train_seconds"],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
