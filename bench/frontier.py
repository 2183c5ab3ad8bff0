"""Ours vs SAELens at equal steps on the same activations: FVU and L0 on held-out vectors.

Both train on the same batches (real vectors from the store, scaled so that
E||x|| = sqrt(d_in)), with the same lr, batch size and number of steps, each with
its own recipe (ours: geometric-median b_dec, unit decoder rows, AuxK, warm-up and
decay; SAELens: its SAETrainer defaults). For the TopK family L0 is matched by
construction (k), so FVU is compared at equal L0. BatchTopK is scored as it runs
after training, a JumpReLU with the threshold each library saves (ours is
recalibrated on the final weights, SAELens's is its running mean), and also as
trained (top k·B over the held-out set as one batch: `*_batch` keys).
One figure per case: our held-out FVU against SAELens's (`ratio` < 1: ours
reconstructs better), L0 of both beside it.

    python bench/frontier.py [--run runs/demo] [--steps 150]
"""

from __future__ import annotations

import time
import warnings

import common
import torch

warnings.filterwarnings("ignore")

CASES = {"topk_k16_2048": ("topk", 2048, 16), "batchtopk_k16_2048": ("batchtopk", 2048, 16)}
QUICK = {"topk_k8_256": ("topk", 256, 8), "batchtopk_k8_256": ("batchtopk", 256, 8)}


def saelens_trainer(
    arch: str, d_in: int, d_sae: int, k: int, steps: int, batch: int, lr: float, dead_window: int, device: str
):
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    cls, cfg_cls = (
        (TopKTrainingSAE, TopKTrainingSAEConfig)
        if arch == "topk"
        else (BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig)
    )
    sae = cls(cfg_cls(d_in=d_in, d_sae=d_sae, k=k, device=device))
    tr = SAETrainer(
        SAETrainerConfig(
            total_training_samples=steps * batch,
            train_batch_size_samples=batch,
            lr=lr,
            lr_end=lr,
            dead_feature_window=dead_window,
            device=device,
        ),
        sae,
        iter(()),
    )
    return tr, sae


@torch.no_grad()
def saelens_jumprelu(sae):
    """SAELens's BatchTopK as it is saved: JumpReLU at its topk_threshold (acts rescaled by decoder norms)."""

    def encode(x):
        norm = sae.W_dec.norm(dim=-1)
        pre = (sae.process_sae_in(x) @ sae.W_enc + sae.b_enc) * norm
        return pre * (pre > float(sae.topk_threshold))

    return encode, lambda f: (f / sae.W_dec.norm(dim=-1)) @ sae.W_dec + sae.b_dec


@torch.no_grad()
def fvu_l0(encode, decode, x: torch.Tensor) -> tuple[float, float]:
    f = encode(x)
    x_hat = decode(f)
    return ((x_hat - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()).item(), (f > 0).sum(-1).float().mean().item()


def main() -> None:
    from monoscope.activations import ActivationStore
    from monoscope.sae import SAEConfig, SAETrainer, TrainConfig

    ap = common.parser(__doc__)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--cases", default=None, help=f"comma-separated, of {', '.join(CASES)}")
    a = ap.parse_args()
    common.check_device(a.device)
    table = QUICK if a.quick else CASES
    if a.quick:
        a.steps, a.batch = 5, 256
    names = a.cases.split(",") if a.cases else list(table)
    if any(n not in table for n in names):
        common.fail(f"unknown case in {a.cases}; known: {', '.join(table)}")
    store = ActivationStore(common.hook_store(a.run))
    rec = common.Recorder("frontier", a)
    data = (store.sample(a.steps * a.batch + 16384, seed=123) * store.norm_scale).to(a.device)
    train, held = data[: a.steps * a.batch], data[a.steps * a.batch :]
    for name in names:
        arch, d_sae, k = table[name]
        torch.manual_seed(0)
        ours = SAETrainer(
            TrainConfig(
                sae=SAEConfig(arch, store.d_in, d_sae, k=k),
                total_vectors=a.steps * a.batch,
                batch_size=a.batch,
                lr=a.lr,
                dead_window=16 * a.batch,
                auxk_coef=0.125,
                resample_at=(),
                device=a.device,
            ),
            sample_fn=lambda n, seed: train[:n],
        )
        theirs, sae_l = saelens_trainer(
            arch, store.d_in, d_sae, k, a.steps, a.batch, a.lr, dead_window=16, device=a.device
        )
        t = {"ours": 0.0, "saelens": 0.0}
        for s in range(a.steps):
            x = train[s * a.batch : (s + 1) * a.batch]
            t0 = time.perf_counter()
            ours.step(x)
            t1 = time.perf_counter()
            theirs.step(x)
            t["ours"] += t1 - t0
            t["saelens"] += time.perf_counter() - t1
        sae_l.eval()
        row = {"case": name}
        if arch == "batchtopk":
            fo, lo = fvu_l0(ours.sae.encode, ours.sae.decode, held)  # still in training mode: batch top-k
            fs, ls = fvu_l0(sae_l.encode, sae_l.decode, held)  # SAELens's training SAE keeps batch top-k in eval()
            row.update(
                {
                    "fvu_ours_batch": round(fo, 4),
                    "fvu_saelens_batch": round(fs, 4),
                    "l0_ours_batch": round(lo, 2),
                    "l0_saelens_batch": round(ls, 2),
                }
            )
            fs, ls = fvu_l0(*saelens_jumprelu(sae_l), held)
        else:
            fs, ls = fvu_l0(sae_l.encode, sae_l.decode, held)
        ours.sae.eval()
        fo, lo = fvu_l0(ours.sae.encode, ours.sae.decode, held)
        row.pop("case")
        rec.figure(
            f"{name} held-out FVU",
            fo,
            "FVU",
            "SAELens",
            fs,
            l0_ours=round(lo, 2),
            l0_saelens=round(ls, 2),
            steps=a.steps,
            batch=a.batch,
            lr=a.lr,
            train_s_ours=round(t["ours"], 1),
            train_s_saelens=round(t["saelens"], 1),
            **row,
        )


if __name__ == "__main__":
    main()
