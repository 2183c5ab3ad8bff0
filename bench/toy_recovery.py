"""Ground-truth recovery by every registered SAE architecture (issue 7).

N = 512 known unit directions in d = 64, ~5 active per vector with power-law
frequencies and correlated groups; each architecture in
monoscope.sae.ARCHITECTURES is trained with SAETrainer and scored.
One figure per architecture: the share of true features recovered (max cosine
>= 0.9 with a decoder row), against all of them (the ceiling, 1.0); MMCS, dead
fraction, L0 and FVU beside it.

    python bench/toy_recovery.py [--vectors 1000000] [--arch relu topk]
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")

import common  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    from monoscope.toy.recovery import RecoveryConfig, architectures, fit_and_score
    from monoscope.toy.synthetic import SyntheticFeatures

    p = common.parser(__doc__, run=False)
    p.add_argument("--n-true", type=int, default=512)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--mean-active", type=float, default=5.0)
    p.add_argument("--d-sae", type=int, default=1024)
    p.add_argument("--vectors", type=int, default=1_000_000)
    p.add_argument("--arch", nargs="+", default=())
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    common.check_device(a.device)
    if a.quick:
        a.n_true, a.d, a.d_sae, a.vectors = 64, 16, 128, 20_000
    if a.threads:
        torch.set_num_threads(a.threads)
    rec = common.Recorder("toy_recovery", a)
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
        rec.figure(
            f"recovered, {row['arch']}",
            row["recovered"],
            "share of true features",
            "all true features",
            1.0,
            mmcs=round(row["mmcs"], 4),
            dead=round(row["dead"], 4),
            l0=round(row["l0"], 2),
            fvu=round(row["fvu"], 4),
            k=row["k"],
            sparsity_coef=row["sparsity_coef"],
            n_true=a.n_true,
            d=a.d,
            d_sae=a.d_sae,
            vectors=a.vectors,
            train_seconds=row["train_seconds"],
        )


if __name__ == "__main__":
    main()
