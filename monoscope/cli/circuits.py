"""Sub-commands across layers: attribute (an attribution graph), eval-transcoders."""

from __future__ import annotations

import json

from monoscope.cli.options import option

COMMANDS = ("attribute", "eval-transcoders")


def register(sub) -> None:
    from monoscope.circuits.api import AttributeConfig, eval_transcoders

    p = sub.add_parser("attribute", help="attribution graph of a logit or a later feature on one prompt")
    p.add_argument("--prompt", required=True)
    p.add_argument("--target", required=True, help="a token ('Paris', '#ID') or a feature at a later layer, L:FEATURE")
    p.add_argument("--transcoders", nargs="+", required=True, help="one transcoder folder per MLP layer")
    p.add_argument("--model", required=True, help="model folder (with its tokenizer.json)")
    p.add_argument("--out", required=True, help="folder for graph.json and graph.html")
    option(p, "--node-threshold", of=AttributeConfig, help="share of the target's influence kept")
    option(p, "--edge-threshold", of=AttributeConfig)
    option(p, "--no-check", of=AttributeConfig, field="check", help="skip checking the edges by intervention")
    p.add_argument(
        "--feature-pages", nargs="*", default=[], metavar="DASHBOARD", help="per layer, a dashboard to link nodes to"
    )
    option(p, "--device", of=AttributeConfig)
    p.set_defaults(func=cmd_attribute)

    p = sub.add_parser("eval-transcoders", help="FVU, L0, dead and loss recovered with every MLP replaced")
    p.add_argument("--transcoders", nargs="+", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    option(p, "--contexts", of=eval_transcoders)
    option(p, "--device", of=eval_transcoders)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval_transcoders)


def cmd_attribute(a) -> int:
    from monoscope.circuits.api import AttributeConfig, attribute

    cfg = AttributeConfig(a.node_threshold, a.edge_threshold, a.check, device=a.device)
    rec = attribute(a.model, a.transcoders, a.prompt, a.target, a.out, cfg, dict(enumerate(a.feature_pages)))
    print(json.dumps({k: rec[k] for k in ("target", "unpruned", "pruned", "seconds")}))
    if "frozen_check" in rec:
        print(json.dumps({"frozen_check": rec["frozen_check"]}))
    print(f"graph: {a.out}/graph.html")
    return 0


def cmd_eval_transcoders(a) -> int:
    from monoscope.circuits.api import eval_transcoders

    print(json.dumps(eval_transcoders(a.model, a.transcoders, a.data, a.contexts, a.device, not a.quiet)))
    return 0
