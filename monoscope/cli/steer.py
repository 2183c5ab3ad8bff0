"""Sub-commands that use features: steer, effects, monitor, design, domain-features."""

from __future__ import annotations

import argparse
import json
import sys

from monoscope.cli.options import option

COMMANDS = ("steer", "effects", "monitor", "design", "domain-features")


def _run_args(p: argparse.ArgumentParser) -> None:
    from monoscope.run_folder import load_run

    p.add_argument("--sae", required=True, help="SAE folder or run folder")
    p.add_argument("--model", default=None, help="model folder (default: beside the SAE)")
    p.add_argument("--data", default=None, help="data folder (default: beside the SAE)")
    option(p, "--device", of=load_run)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub) -> None:
    from monoscope.steer import api
    from monoscope.steer.design import DesignConfig
    from monoscope.steer.domains import find_domain_features
    from monoscope.steer.generate import SampleConfig
    from monoscope.steer.monitor import MonitorConfig

    p = sub.add_parser("steer", help="steered generation: baseline and steered continuations side by side")
    _run_args(p)
    p.add_argument("--feature", required=True, help="feature index, or several: 12,40")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--clamp", help="clamp to a value (3.5) or a multiple of the feature's max activation (10x)")
    g.add_argument("--scale", type=float, help="multiply the activation by this factor")
    g.add_argument("--ablate", action="store_true", help="zero the feature")
    g.add_argument("--add", type=float, metavar="STRENGTH", help="add the unit decoder direction times STRENGTH")
    option(
        p,
        "--positions",
        default="all",
        help="'all' (BOS excepted) or comma-separated positions; negative counts from the end",
    )
    p.add_argument(
        "--no-error-term", action="store_true", help="splice the bare reconstruction (default keeps x - SAE(x))"
    )
    option(
        p,
        "--max-act",
        of=api.steered_generation,
        type=float,
        help="max activation for '10x' clamps (default: the run's feature store, analysis/features.db, for this SAE; "
        "without one, measured on --max-act-contexts validation contexts)",
    )
    option(p, "--max-act-contexts", of=api.steered_generation)
    p.add_argument("--prompt", required=True)
    option(p, "--max-new-tokens", of=SampleConfig)
    option(p, "--temperature", of=SampleConfig, help="0 = greedy")
    option(p, "--top-k", of=SampleConfig, help="0 = the whole vocabulary")
    option(p, "--seed", of=SampleConfig)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_steer)

    p = sub.add_parser("effects", help="a feature on one text: per-token ablation effects and logit attribution")
    _run_args(p)
    p.add_argument("--feature", type=int, required=True)
    p.add_argument("--text", required=True)
    option(
        p,
        "--position",
        of=api.effects,
        type=int,
        help="position for the contributions (default: where the feature peaks)",
    )
    option(p, "--top", of=api.effects, help="tokens listed as promoted and as suppressed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_effects)

    p = sub.add_parser("monitor", help="stream text or JSONL files and report where features fire (JSON lines)")
    _run_args(p)
    p.add_argument("--features", required=True, help="comma-separated feature indices")
    option(p, "--threshold", of=MonitorConfig, help="report activations above this")
    p.add_argument("files", nargs="+", metavar="FILE", help="text files (one document each) or .jsonl files")
    option(p, "--text-field", of=MonitorConfig, help="JSONL field holding the text")
    option(
        p,
        "--on-error",
        of=MonitorConfig,
        choices=["stop", "skip"],
        help="at a bad file or line: stop, or report it and go on",
    )
    option(p, "--context", of=MonitorConfig, field="context_tokens", help="tokens of context on each side of a hit")
    option(p, "--batch-contexts", of=MonitorConfig)
    p.add_argument("--out", default=None, help="write the JSON lines here instead of stdout")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("design", help="search for token sequences that maximally activate a feature (GCG-style)")
    _run_args(p)
    p.add_argument("--feature", type=int, required=True)
    for flag in ("--length", "--steps", "--candidates", "--top-k", "--beam", "--seed"):
        option(p, flag, of=DesignConfig)
    option(
        p,
        "--init",
        of=api.design,
        choices=["random", "corpus"],
        help="start from random tokens or the best corpus example",
    )
    option(p, "--corpus-contexts", of=api.design, help="validation contexts searched for the best corpus example")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("domain-features", help="for each domain label, the feature that best separates its tokens")
    _run_args(p)
    option(p, "--split", of=find_domain_features, choices=["train", "val"], help="which split's tokens are compared")
    option(p, "--contexts", of=find_domain_features, field="n_contexts")
    p.set_defaults(func=cmd_domain_features)


def _load(a, need_data: bool = True):
    from monoscope.run_folder import load_run

    return load_run(a.sae, a.model, a.data, a.device, need_data=need_data)


def _edits(a, d_sae: int):
    from monoscope.steer.edits import Edit, check_features, parse_clamp, parse_features, parse_positions

    feats = parse_features(a.feature)
    check_features(feats, d_sae)
    pos = parse_positions(a.positions)
    if a.clamp is not None:
        v, rel = parse_clamp(a.clamp)
        return [Edit(f, "clamp", v, rel, pos) for f in feats]
    if a.ablate:
        return [Edit(f, "ablate", 0.0, False, pos) for f in feats]
    op, v = ("scale", a.scale) if a.scale is not None else ("add", a.add)
    return [Edit(f, op, v, False, pos) for f in feats]


def cmd_steer(a) -> int:
    from monoscope.steer.api import steered_generation
    from monoscope.steer.generate import SampleConfig, format_side_by_side

    run = _load(a)
    edits = _edits(a, run.sae.d_sae)
    cfg = SampleConfig(max_new_tokens=a.max_new_tokens, temperature=a.temperature, top_k=a.top_k, seed=a.seed)
    r = steered_generation(
        run, edits, a.prompt, cfg, not a.no_error_term, a.max_act, a.max_act_contexts, progress=not a.quiet
    )
    if a.json:
        print(json.dumps(r))
    else:
        desc = "; ".join(
            f"{e['op']} feature {e['feature']}" + ("" if e["op"] == "ablate" else f" {e['value']:.4g}")
            for e in r["edits"]
        )
        print(format_side_by_side(r, desc + ("" if r["error_term"] else " (no error term)")), end="")
    return 0


def cmd_effects(a) -> int:
    from monoscope.steer.api import effects

    r = effects(_load(a), a.feature, a.text, a.position, a.top)
    if a.json:
        print(json.dumps(r))
        return 0
    print(f"feature {r['feature']} at {r['hook']}: ablation effect on each token's log-likelihood")
    print(f"{'pos':>4}  {'token':<16} {'act':>8} {'Δlog p':>9}")
    for t in r["tokens"]:
        d = "" if t["delta_logp"] is None else f"{t['delta_logp']:+9.4f}"
        print(f"{t['position']:>4}  {repr(t['token'])[1:-1][:16]:<16} {t['activation']:8.3f} {d:>9}")
    c = r["contribution"]
    print(
        f"\ncontribution at position {c['position']} ({c['token']!r}, activation {c['activation']:.3f}): "
        f"|feature out| {c['feature_output_norm']:.3f} of |layer out| {c['layer_output_norm']:.3f} "
        f"(|error out| {c['error_output_norm']:.3f})"
    )
    print("direct logit effect, promoted: " + ", ".join(f"{t!r} {v:+.3f}" for t, v in c["top_promoted"]))
    print("direct logit effect, suppressed: " + ", ".join(f"{t!r} {v:+.3f}" for t, v in c["top_suppressed"]))
    corr = c["direct_vs_total_corr"]
    print(f"direct vs total (ablation) effect on logits, correlation: {'n/a' if corr is None else f'{corr:.3f}'}")
    print(
        f"check: terms sum to the layer output within {c['check']['layer_output_max_abs_gap']:.2e}, "
        f"to the logits within {c['check']['logits_max_abs_gap']:.2e}"
    )
    return 0


def cmd_monitor(a) -> int:
    from monoscope.steer.api import monitor
    from monoscope.steer.edits import parse_features
    from monoscope.steer.monitor import MonitorConfig

    cfg = MonitorConfig(
        features=parse_features(a.features),
        threshold=a.threshold,
        text_field=a.text_field,
        on_error=a.on_error,
        context_tokens=a.context_tokens,
        batch_contexts=a.batch_contexts,
    )
    summary = monitor(_load(a), a.files, cfg, a.out, a.overwrite)
    for msg in summary["bad_inputs"]:
        print(f"monoscope: skipped {msg}", file=sys.stderr)
    return 0


def cmd_design(a) -> int:
    from monoscope.steer.api import design
    from monoscope.steer.design import DesignConfig

    cfg = DesignConfig(length=a.length, steps=a.steps, candidates=a.candidates, top_k=a.top_k, beam=a.beam, seed=a.seed)
    r = design(_load(a), a.feature, cfg, a.init, a.corpus_contexts, progress=not a.quiet)
    if a.json:
        print(json.dumps(r))
        return 0
    print(f"feature {r['feature']}: {r['steps_run']} steps from {r['init']} init")
    for s in r["sequences"]:
        print(f"  activation {s['activation']:8.3f}  {s['text']!r}")
    cb = r["corpus_best"]
    print(
        f"best corpus example (first {cb['contexts_searched']} val contexts): activation {cb['activation']:.3f}, "
        f"context {cb['context']} position {cb['position']}, ending {cb['text_tail']!r}"
    )
    print(f"designed - corpus best: {r['designed_minus_corpus']:+.3f}")
    return 0


def cmd_domain_features(a) -> int:
    from monoscope.steer.domains import find_domain_features

    run = _load(a)
    fs = find_domain_features(run.model, run.sae, run.hook, run.dataset, a.split, a.n_contexts, progress=not a.quiet)
    for f in fs.values():
        print(
            json.dumps(
                {
                    "domain": f.domain,
                    "feature": f.feature,
                    "cohen_d": round(f.cohen_d, 3),
                    "precision": round(f.precision, 3),
                    "recall": round(f.recall, 3),
                    "tokens": f.tokens,
                }
            )
        )
    return 0
