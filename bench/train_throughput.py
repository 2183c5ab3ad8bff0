"""SAE training throughput: ours vs SAELens on the same activations, shapes and batch size, alternating in one process.

Prints one JSON line per case:
  {"case", "ours_vps", "saelens_vps", "ratio" (ours / SAELens), "peak_fraction", ...}
peak_fraction = our achieved FLOP/s ÷ the FLOP/s of plain torch.mm calls of the same
shapes timed in the same run. For ReLU the step's FLOPs are its 5 dense matmuls
(encoder, decoder, and the three backward products; the input takes no gradient):
10·B·d_in·d_sae. For TopK the dense work is the encoder, 2·B·d_in·d_sae, plus
6·B·k·d_in for the sparse decoder and backward; its reference is the encoder matmul.

    python bench/train_throughput.py [--acts runs/demo/acts/blocks.0.mlp.hook_post] [--device cpu]
        [--cases relu_4096,topk_16384]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch

warnings.filterwarnings("ignore")

CASES = {
    "relu_4096": dict(arch="relu", d_in=512, d_sae=4096, batch=4096, k=None),
    "topk_16384": dict(arch="topk", d_in=512, d_sae=16384, batch=4096, k=32),
}


def activations(acts: str | None, d_in: int, n: int) -> torch.Tensor:
    """Real vectors from a store when there is one (scaled so E||x|| = sqrt(d_in)), else Gaussian."""
    if acts and Path(acts).exists():
        from monoscope.activations import ActivationStore

        store = ActivationStore(acts)
        if store.d_in == d_in:
            return store.sample(n, seed=0) * store.norm_scale
    return torch.randn(n, d_in, generator=torch.Generator().manual_seed(0))


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
    tr = SAETrainer(cfg)
    return tr.step


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


def bench(name: str, case: dict, xs: list[torch.Tensor], device: str, rounds: int) -> dict:
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
    return {
        "case": name,
        "ours_vps": round(B / t["ours"]),
        "saelens_vps": round(B / t["saelens"]),
        "ratio": round(t["saelens"] / t["ours"], 3),
        "peak_fraction": round((our_flops / t["ours"]) / (mm_flops / t["mm"]), 3),
        "ours_step_s": round(t["ours"], 4),
        "saelens_step_s": round(t["saelens"], 4),
        "matmul_s": round(t["mm"], 4),
        "matmul_gflops": round(mm_flops / t["mm"] / 1e9, 1),
        "rounds": rounds,
        "device": device,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--acts", default="runs/demo/acts/blocks.0.mlp.hook_post")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument(
        "--rounds", type=int, default=0, help="alternations per case (default: 6 for relu, 3 for topk on CPU)"
    )
    a = ap.parse_args()
    for name in a.cases.split(","):
        case = CASES[name]
        xs = [v.to(a.device) for v in activations(a.acts, case["d_in"], 3 * case["batch"]).split(case["batch"])]
        rounds = a.rounds or (20 if a.device.startswith("cuda") else 6 if case["arch"] == "relu" else 3)
        print(json.dumps(bench(name, case, xs, a.device, rounds)), flush=True)


if __name__ == "__main__":
    main()
