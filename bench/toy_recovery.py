"""Ground-truth recovery over the suite (issue 19): every registered SAE architecture, and SAELens's TopK and
BatchTopK as the peer on the same batches, on every distribution of monoscope.toy.suite (power-law firing with
three exponents, correlated, hierarchical, magnitudes + noise, N from 0.5x to 4x 8·d, d_sae below/at/above N).
One figure per architecture and distribution: the share of true features recovered (max cosine >= 0.9), against
all of them (1.0); MMCS, dead, FVU and L0 beside it. Defaults (d = 32, 200k vectors) are sized for a few CPU minutes.

    python bench/toy_recovery.py [--d 32] [--vectors 200000] [--arch relu topk] [--dist power0.8 N4x]
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")

import common  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    from monoscope.toy.recovery import RecoveryConfig, rows

    p = common.parser(__doc__, run=False)
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--vectors", type=int, default=200_000)
    p.add_argument("--arch", nargs="+", default=())
    p.add_argument("--dist", nargs="+", default=())
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    common.check_device(a.device)
    if a.quick:
        a.d, a.vectors = 16, 20_000  # d = 8 is too narrow for power1.1 (N = 64 cannot fire 4 on average)
    if a.threads:
        torch.set_num_threads(a.threads)
    rec = common.Recorder("toy_recovery", a)
    cfg = RecoveryConfig(d=a.d, vectors=a.vectors, archs=tuple(a.arch), dists=tuple(a.dist), seed=a.seed)
    for row in rows(cfg, progress=False):
        rec.figure(
            f"recovered, {row['arch']}, {row['distribution']}",
            row["recovered"],
            "share of true features",
            "all true features",
            1.0,
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
        )


if __name__ == "__main__":
    main()
