"""`monoscope report`: hypotheses, features vs neurons, feature splitting and universality in one HTML report."""

from __future__ import annotations

import json

from monoscope.cli.options import option

COMMANDS = ("report",)


def register(sub) -> None:
    from monoscope.features.report import ReportConfig

    p = sub.add_parser(
        "report", help="specificity/sensitivity, features vs neurons, splitting, UMAP and universality report"
    )
    p.add_argument(
        "--sae",
        action="append",
        required=True,
        help="SAE or run folder; repeat with SAEs of other sizes on the same hook for the splitting section",
    )
    option(
        p,
        "--compare-sae",
        of=ReportConfig,
        type=str,
        help="SAE of a second subject model (another seed) for universality",
    )
    p.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME=REGEX",
        help="extra hypothesised context: tokens overlapping a regex match in their document",
    )
    option(
        p, "--fires", of=ReportConfig, field="fires_frac", help="a unit fires above this fraction of its max activation"
    )
    option(
        p,
        "--select-contexts",
        of=ReportConfig,
        help="training contexts, spread over the split, on which best units are chosen",
    )
    option(p, "--eval-contexts", of=ReportConfig, type=int, help="validation contexts measured (default: all)")
    option(p, "--top-k", of=ReportConfig, help="features listed per context")
    option(p, "--no-umap", of=ReportConfig, field="umap", help="skip the UMAP of decoders")
    option(p, "--no-probe", of=ReportConfig, field="probe", help="skip the probe ceiling")
    option(p, "--probe-contexts", of=ReportConfig, help="training contexts the linear probe learns from")
    option(
        p,
        "--probe-fit",
        of=ReportConfig,
        field="probe_max_fit",
        help="of their tokens, how many the probe is fitted on (subsample)",
    )
    p.add_argument("--out", required=True, help="output folder for report.html, report.md, report.json, figures/")
    p.add_argument("--overwrite", action="store_true", help="replace a report folder made with another configuration")
    option(p, "--device", of=ReportConfig)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_report)


def cmd_report(a) -> int:
    from monoscope.dashboard.report import write_pages
    from monoscope.features.report import ReportConfig, build_report

    cfg = ReportConfig(
        saes=a.sae,
        contexts=a.context,
        compare_sae=a.compare_sae,
        select_contexts=a.select_contexts,
        eval_contexts=a.eval_contexts,
        fires_frac=a.fires_frac,
        top_k=a.top_k,
        umap=a.umap,
        probe=a.probe,
        probe_contexts=a.probe_contexts,
        probe_max_fit=a.probe_max_fit,
        device=a.device,
    )
    r = build_report(cfg, a.out, a.overwrite, progress=not a.quiet)
    page = write_pages(a.out)
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
    print(f"report: {page}")
    return 0
