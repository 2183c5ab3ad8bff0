"""`monoscope bench-sae`: absorption, sparse probing, stability and core metrics for several SAEs of one hook."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "bench-sae", help="SAE quality side by side: core metrics, absorption, sparse probing, stability"
    )
    p.add_argument("--sae", action="append", required=True, help="SAE or run folder; repeat for every SAE compared")
    p.add_argument("--out", required=True, help="folder for bench_sae.json and one PNG per metric")
    p.add_argument("--context", action="append", default=[], metavar="NAME=REGEX", help="extra probing task")
    p.add_argument("--eval-contexts", type=int, default=64, help="validation contexts for the core metrics")
    p.add_argument("--probe-contexts", type=int, default=256, help="validation contexts for sparse probing")
    p.add_argument("--model", default=None, help="subject model folder (default: beside each SAE)")
    p.add_argument("--data", default=None, help="data folder (default: beside each SAE)")
    p.add_argument(
        "--min-probe-f1",
        type=float,
        default=0.6,
        help="absorption: a letter takes part when its probe's test F1 exceeds this (SAEBench's 0.6)",
    )
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args) -> int:
    from monoscope.evals.absorption import AbsorptionConfig
    from monoscope.evals.bench import BenchConfig, bench_saes, write_bench

    cfg = BenchConfig(
        eval_contexts=args.eval_contexts,
        probe_contexts=args.probe_contexts,
        contexts=args.context,
        model=args.model,
        data=args.data,
        absorption=AbsorptionConfig(min_probe_f1=args.min_probe_f1),
        device=args.device,
    )
    for p in write_bench(bench_saes(args.sae, cfg, progress=True), Path(args.out)):
        print(p)
    return 0
