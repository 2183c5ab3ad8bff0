"""`monoscope report`: hypotheses, features vs neurons, feature splitting and universality in one HTML report."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="specificity/sensitivity, features vs neurons, splitting, UMAP and universality report"
    )
    p.add_argument(
        "--sae",
        action="append",
        required=True,
        help="SAE or run folder; repeat with SAEs of other sizes on the same hook for the splitting section",
    )
    p.add_argument("--compare-sae", default=None, help="SAE of a second subject model (another seed) for universality")
    p.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME=REGEX",
        help="extra hypothesised context: tokens overlapping a regex match in their document",
    )
    p.add_argument("--fires", type=float, default=0.1, help="a unit fires above this fraction of its max activation")
    p.add_argument(
        "--select-contexts",
        type=int,
        default=1024,
        help="training contexts, spread over the split, on which best units are chosen",
    )
    p.add_argument("--eval-contexts", type=int, default=None, help="validation contexts measured (default: all)")
    p.add_argument("--top-k", type=int, default=5, help="features listed per context")
    p.add_argument("--no-umap", action="store_true", help="skip the UMAP of decoder directions")
    p.add_argument("--no-probe", action="store_true", help="skip the linear-probe ceiling per context")
    p.add_argument("--probe-contexts", type=int, default=2048, help="training contexts the linear probe learns from")
    p.add_argument(
        "--probe-fit", type=int, default=100_000, help="of their tokens, how many the probe is fitted on (subsample)"
    )
    p.add_argument("--out", required=True, help="output folder for report.html, report.md, report.json, figures/")
    p.add_argument("--overwrite", action="store_true", help="replace a report folder made with another configuration")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_report)


def cmd_report(a) -> int:
    from monoscope.dashboard.report import ReportConfig, build_report

    cfg = ReportConfig(
        saes=a.sae,
        compare_sae=a.compare_sae,
        contexts=a.context,
        select_contexts=a.select_contexts,
        eval_contexts=a.eval_contexts,
        fires_frac=a.fires,
        top_k=a.top_k,
        umap=not a.no_umap,
        probe=not a.no_probe,
        probe_contexts=a.probe_contexts,
        probe_max_fit=a.probe_fit,
        device=a.device,
    )
    r = build_report(cfg, a.out, a.overwrite, progress=not a.quiet)
    for row in r["comparison"]:
        print(
            json.dumps(
                {
                    k: row[k]
                    for k in (
                        "context",
                        "feature",
                        "feature_specificity",
                        "feature_sensitivity",
                        "neuron",
                        "neuron_specificity",
                        "neuron_sensitivity",
                        "goal_met",
                    )
                }
            )
        )
    g = r["domain_goal"]
    print(
        json.dumps(
            {
                "domain_goal": {
                    "met": g["met"],
                    "not_met": g["not_met"],
                    "limited_by_model": g["limited_by_model"],
                    "met_by": {d: x["met_by"] for d, x in g["domains"].items() if x["met"]},
                }
            }
        )
    )
    print(f"report: {Path(a.out) / 'report.html'}")
    return 0
