"""`monoscope bench-sae`: absorption, sparse probing, stability and core metrics for several SAEs of one hook."""

from __future__ import annotations

from pathlib import Path

from monoscope.cli.options import option

COMMANDS = ("bench-sae",)


def register(sub) -> None:
    from monoscope.evals.absorption import AbsorptionConfig
    from monoscope.evals.bench import BenchConfig

    p = sub.add_parser(
        "bench-sae", help="SAE quality side by side: core metrics, absorption, sparse probing, stability"
    )
    p.add_argument("--sae", action="append", required=True, help="SAE or run folder; repeat for every SAE compared")
    p.add_argument("--out", required=True, help="folder for bench_sae.json and one PNG per metric")
    p.add_argument("--context", action="append", default=[], metavar="NAME=REGEX", help="extra probing task")
    option(p, "--eval-contexts", of=BenchConfig, help="validation contexts for the core metrics")
    option(p, "--probe-contexts", of=BenchConfig, help="validation contexts for sparse probing")
    option(p, "--model", of=BenchConfig, type=str, help="subject model folder (beside each SAE by default)")
    option(p, "--data", of=BenchConfig, type=str, help="data folder (beside each SAE by default)")
    option(
        p,
        "--min-probe-f1",
        of=AbsorptionConfig,
        help="absorption: a letter takes part when its probe's test F1 exceeds this (SAEBench's)",
    )
    option(p, "--device", of=BenchConfig)
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
