"""Sub-commands for feature evidence: analyze (→ feature store), dashboard (static pages), serve (local browser)."""

from __future__ import annotations

import json
from pathlib import Path

from monoscope.cli.options import option

COMMANDS = ("analyze", "dashboard", "serve")


def register(sub) -> None:
    from monoscope.dashboard.server import open_browser_state, serve
    from monoscope.dashboard.static import write_dashboard
    from monoscope.features.analysis import AnalysisConfig

    p = sub.add_parser(
        "analyze",
        help="one streaming pass: every feature's examples, histograms, logit effects, neighbours → SQLite store",
    )
    p.add_argument("--sae", required=True, help="SAE folder or run folder")
    option(p, "--tokens", of=AnalysisConfig, type=float, help="tokens to analyse")
    p.add_argument("--out", default=None, help="output folder (default RUN/analysis)")
    option(p, "--split", of=AnalysisConfig, choices=["train", "val"])
    p.add_argument("--model", default=None, help="model folder (default: beside the SAE)")
    p.add_argument("--data", default=None, help="data folder (default: beside the SAE)")
    option(p, "--top-k", of=AnalysisConfig, help="top examples per feature")
    option(p, "--before", of=AnalysisConfig, help="context tokens shown before the active token")
    option(p, "--after", of=AnalysisConfig, help="context tokens shown after it")
    option(p, "--ablate-examples", of=AnalysisConfig, help="top examples per feature with per-token ablation effects")
    option(p, "--batch-contexts", of=AnalysisConfig)
    p.add_argument("--overwrite", action="store_true", help="replace a store made for another SAE or configuration")
    option(p, "--device", of=AnalysisConfig)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("dashboard", help="static HTML feature pages that open from disk with no network")
    p.add_argument("--sae", required=True, help="SAE folder or run folder")
    p.add_argument("--out", required=True, help="output folder for index.html, feature.html, assets/ and data/")
    p.add_argument("--store", default=None, help="feature store (default RUN/analysis/features.db)")
    option(
        p,
        "--features",
        of=write_dashboard,
        type=str,
        help="which features to export: all (the default), live (those that fired), or ids like 3,10-20",
    )
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("serve", help="local feature browser: list, pages, search by token, live text → features")
    p.add_argument("--sae", required=True, help="SAE folder or run folder")
    p.add_argument("--store", default=None, help="feature store (default RUN/analysis/features.db)")
    option(p, "--host", of=serve, help="interface to bind (this machine only by default)")
    option(p, "--port", of=serve)
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to NAME:PORT (e.g. this machine's LAN name with --host 0.0.0.0); "
        "by default only 127.0.0.1, localhost and [::1] are trusted",
    )
    p.add_argument("--no-live", action="store_true", help="do not load the model (no live text page)")
    p.add_argument("--model", default=None, help="model folder for the live page (default: beside the SAE)")
    p.add_argument("--data", default=None, help="data folder (default: beside the SAE)")
    option(p, "--device", of=open_browser_state)
    p.set_defaults(func=cmd_serve)


def cmd_analyze(a) -> int:
    from monoscope.features.analysis import AnalysisConfig, analyze
    from monoscope.run_folder import load_run

    run = load_run(a.sae, a.model, a.data, a.device)
    cfg = AnalysisConfig(
        tokens=int(a.tokens),
        split=a.split,
        top_k=a.top_k,
        before=a.before,
        after=a.after,
        ablate_examples=a.ablate_examples,
        batch_contexts=a.batch_contexts,
        device=a.device,
    )
    s = analyze(run, a.out, cfg, a.overwrite, progress=not a.quiet)
    print(json.dumps(s))
    return 0


def cmd_dashboard(a) -> int:
    from monoscope.dashboard.server import open_browser_state
    from monoscope.dashboard.static import write_dashboard

    store, _ = open_browser_state(a.sae, a.store, live=False)
    index = write_dashboard(store, a.out, a.overwrite, progress=not a.quiet, features=a.features)
    print(f"dashboard: open {Path(index).resolve().as_uri()}")
    return 0


def cmd_serve(a) -> int:
    from monoscope.dashboard.server import open_browser_state, serve

    store, live = open_browser_state(a.sae, a.store, live=not a.no_live, device=a.device, model=a.model, data=a.data)
    serve(store, live, a.host, a.port, tuple(a.allow_host))
    return 0
