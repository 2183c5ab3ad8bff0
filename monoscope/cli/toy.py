"""`monoscope toy EXPERIMENT`: superposition toy models, JL packings, compressed sensing, SAE recovery."""

from __future__ import annotations

import json

from monoscope.cli.options import option

EXPERIMENT_HELP = "geometry, importance, phase, dimensionality, jl, compressed-sensing or recovery"


COMMANDS = ("toy",)


def register(sub) -> None:
    from monoscope.toy.runner import run_experiment

    p = sub.add_parser(
        "toy",
        help="toy experiments on superposition (no language model needed)",
        description="Run one toy experiment; writes PNG figures and EXPERIMENT.json into --out.",
    )
    p.add_argument("experiment", metavar="EXPERIMENT", help=EXPERIMENT_HELP)
    p.add_argument("--out", default=None, help="output folder (default runs/toy/EXPERIMENT)")
    p.add_argument("--n", dest="n_features", type=int, default=None, help="features n (toy models, compressed sensing)")
    p.add_argument("--m", dest="m_hidden", type=int, default=None, help="hidden dimensions m (toy models)")
    p.add_argument("--sparsity", dest="sparsities", type=float, nargs="+", default=None, help="sparsities S in [0, 1)")
    p.add_argument("--dims", type=int, nargs="+", default=None, help="dimensions d (jl)")
    p.add_argument("--eps", type=float, default=None, help="largest allowed |cos| (jl)")
    p.add_argument("--dist", dest="dists", nargs="+", default=None, help="suite distributions (recovery; default all)")
    p.add_argument("--d", type=int, default=None, help="activation width d; sets N and d_sae (recovery)")
    p.add_argument("--vectors", type=int, default=None, help="SAE training vectors (recovery)")
    p.add_argument("--arch", dest="archs", nargs="+", default=None, help="SAE architectures (recovery; default all)")
    p.add_argument("--steps", type=int, default=None, help="training steps (toy models)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None, help="models per grid cell; the best is kept")
    p.add_argument("--seed", type=int, default=None)
    option(p, "--threads", of=run_experiment, help="torch threads (small tensors: 1 is usually fastest)")
    p.add_argument("--overwrite", action="store_true", help="replace an output folder made with another configuration")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_toy)


def cmd_toy(a) -> int:
    from monoscope.toy import run_experiment
    from monoscope.toy.runner import toy_folder

    keys = (
        "n_features",
        "m_hidden",
        "sparsities",
        "dims",
        "eps",
        "dists",
        "d",
        "vectors",
        "archs",
        "steps",
        "batch_size",
        "seeds",
        "seed",
    )
    res = run_experiment(
        a.experiment,
        a.out,
        overwrite=a.overwrite,
        progress=not a.quiet,
        threads=a.threads,
        **{k: getattr(a, k) for k in keys},
    )
    out = toy_folder(a.experiment, a.out)
    print(
        json.dumps(
            {
                "experiment": res["experiment"],
                "seconds": res["seconds"],
                "out": str(out),
                "figures": res.get("figures", []),
            }
        )
    )
    return 0
