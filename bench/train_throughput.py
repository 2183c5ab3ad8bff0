"""SAE training throughput: ours vs SAELens on the same activations, shapes and batch size, alternating in one process.

Two figures per case: vectors/s against SAELens's (`ratio` = ours / SAELens), and
our achieved FLOP/s against the FLOP/s of plain torch.mm calls of the same
shapes timed in the same run (`ratio` = the fraction of that peak). For ReLU the
step's FLOPs are its 5 dense matmuls (encoder, decoder, and the three backward
products; the input takes no gradient): 10·B·d_in·d_sae. For TopK the dense
work is the encoder, 2·B·d_in·d_sae, plus 6·B·k·d_in for the sparse decoder and
backward; its reference is the encoder matmul alone.

Inputs are the demo's activations when their width matches (scaled so
E||x|| = sqrt(d_in)), else Gaussian vectors.

    python bench/train_throughput.py [--run runs/demo] [--device cpu|cuda] [--cases relu_4096,topk_16384,topk_65536]

With --device cuda the default cases are GPU_CASES (d_in 2,304: TopK 65,536 latents k 64 at batches 8,192 and
16,384, ReLU 16,384).
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path

import common
import torch

warnings.filterwarnings("ignore")

CASES = {
    "relu_4096": dict(arch="relu", d_in=512, d_sae=4096, batch=4096, k=None),
    "topk_16384": dict(arch="topk", d_in=512, d_sae=16384, batch=4096, k=32),
    "topk_65536": dict(arch="topk", d_in=512, d_sae=65536, batch=1024, k=32),
}
# realistic shapes for a GPU (Gemma-2-2B's residual width), the default with --device cuda
GPU_CASES = {
    "relu_16384_d2304": dict(arch="relu", d_in=2304, d_sae=16384, batch=8192, k=None),
    "topk_65536_d2304": dict(arch="topk", d_in=2304, d_sae=65536, batch=8192, k=64),
    "topk_65536_d2304_b16384": dict(arch="topk", d_in=2304, d_sae=65536, batch=16384, k=64),
}
QUICK = {
    "relu_256": dict(arch="relu", d_in=64, d_sae=256, batch=256, k=None),
    "topk_512": dict(arch="topk", d_in=64, d_sae=512, batch=256, k=8),
}


def activations(acts: Path, d_in: int, n: int) -> tuple[torch.Tensor, str]:
    """Real vectors from a store when there is one of this width (scaled so E||x|| = sqrt(d_in)), else Gaussian."""
    from monoscope.activations import ActivationStore

    store = ActivationStore(acts)
    if store.d_in == d_in and store.count >= n:
        return store.sample(n, seed=0) * store.norm_scale, str(acts)
    return torch.randn(n, d_in, generator=torch.Generator().manual_seed(0)), "gaussian"


def ours(case: dict, device: str):
    from monoscope.sae import SAEConfig, SAETrainer, TrainConfig

    cfg = TrainConfig(
        sae=SAEConfig(case["arch"], case["d_in"], case["d_sae"], k=case["k"]),
        total_vectors=case["batch"] * 10**6,
        batch_size=case["batch"],
        lr=1e-4,
        b_dec_init="mean",
        resample_at=(),
        device=device,
    )
    return SAETrainer(cfg).step


def saelens(case: dict, device: str):
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    if case["arch"] == "relu":
        sae = StandardTrainingSAE(
            StandardTrainingSAEConfig(d_in=case["d_in"], d_sae=case["d_sae"], l1_coefficient=5.0, device=device)
        )
    else:
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=case["d_in"], d_sae=case["d_sae"], k=case["k"], device=device))
    tr = SAETrainer(
        SAETrainerConfig(
            total_training_samples=case["batch"] * 10**6,
            train_batch_size_samples=case["batch"],
            lr=1e-4,
            lr_end=1e-4,
            device=device,
        ),
        sae,
        iter(()),
    )
    return tr.step


def matmuls(case: dict, device: str):
    """The dense products of one step, as plain torch.mm calls on tensors of the same shapes."""
    B, D, S = case["batch"], case["d_in"], case["d_sae"]
    g = torch.Generator(device=device).manual_seed(1)
    x, W, Wd = (torch.randn(*s, generator=g, device=device) for s in ((B, D), (D, S), (S, D)))
    if case["arch"] != "relu":
        return lambda: torch.mm(x, W), 2 * B * D * S
    h, e = torch.randn(B, S, generator=g, device=device), torch.randn(B, D, generator=g, device=device)

    def run():
        torch.mm(x, W), torch.mm(h, Wd), torch.mm(h.t(), e), torch.mm(e, Wd.t()), torch.mm(x.t(), h)

    return run, 10 * B * D * S


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def bench(case: dict, xs: list[torch.Tensor], device: str, rounds: int) -> dict:
    steps = {"ours": ours(case, device), "saelens": saelens(case, device)}
    mm, mm_flops = matmuls(case, device)
    for fn in steps.values():  # warm-up (b_dec init, allocator, kernels)
        fn(xs[0])
        fn(xs[1])
    mm()
    times: dict[str, list[float]] = {"ours": [], "saelens": [], "mm": []}
    for r in range(rounds):  # alternate, so load on a shared machine hits both alike
        x = xs[r % len(xs)]
        for key in ("ours", "saelens") if r % 2 == 0 else ("saelens", "ours"):
            times[key].append(timed(lambda key=key, x=x: steps[key](x), device))
        times["mm"].append(timed(mm, device))
    t = {k: statistics.median(v) for k, v in times.items()}
    B, D, S, k = case["batch"], case["d_in"], case["d_sae"], case["k"]
    our_flops = 10 * B * D * S if case["arch"] == "relu" else 2 * B * D * S + 6 * B * k * D
    return {"t": t, "our_flops": our_flops, "mm_flops": mm_flops}


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--cases", default=None, help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--rounds", type=int, default=0, help="alternations per case (default: 5 relu, 3 topk on CPU)")
    a = ap.parse_args()
    common.check_device(a.device)
    table = QUICK if a.quick else GPU_CASES if a.device.startswith("cuda") else CASES
    names = a.cases.split(",") if a.cases else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        common.fail(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(table)}")
    acts = common.hook_store(a.run)
    rec = common.Recorder("train_throughput", a)
    for name in names:
        case = table[name]
        data, source = activations(acts, case["d_in"], 3 * case["batch"])
        xs = [v.to(a.device) for v in data.split(case["batch"])]
        cuda = a.device.startswith("cuda")
        rounds = a.rounds or (2 if a.quick else 20 if cuda else 5 if case["arch"] == "relu" else 3)
        r = bench(case, xs, a.device, rounds)
        t, B = r["t"], case["batch"]
        shape = {k: case[k] for k in ("d_in", "d_sae", "batch", "k")} | {"rounds": rounds, "inputs": source}
        rec.figure(
            f"{name} training",
            B / t["ours"],
            "vectors/s",
            "SAELens",
            B / t["saelens"],
            ours_step_s=round(t["ours"], 4),
            saelens_step_s=round(t["saelens"], 4),
            **shape,
        )
        achieved, peak = r["our_flops"] / t["ours"] / 1e9, r["mm_flops"] / t["mm"] / 1e9
        rec.figure(
            f"{name} peak fraction",
            achieved,
            "GFLOP/s",
            "matmul peak" if case["arch"] == "relu" else "encoder matmul",
            peak,
            matmul_s=round(t["mm"], 4),
            **shape,
        )


if __name__ == "__main__":
    main()
