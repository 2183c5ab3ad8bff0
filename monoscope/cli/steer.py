"""Sub-commands that use features: steer, effects, monitor, design, domain-features."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sae", required=True, help="SAE folder or run folder")
    p.add_argument("--model", default=None, help="model folder (default: beside the SAE)")
    p.add_argument("--data", default=None, help="data folder (default: beside the SAE)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub) -> None:
    p = sub.add_parser("steer", help="steered generation: baseline and steered continuations side by side")
    _run_args(p)
    p.add_argument("--feature", required=True, help="feature index, or several: 12,40")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--clamp", help="clamp to a value (3.5) or a multiple of the feature's max activation (10x)")
    g.add_argument("--scale", type=float, help="multiply the activation by this factor")
    g.add_argument("--ablate", action="store_true", help="zero the feature")
    g.add_argument("--add", type=float, metavar="STRENGTH", help="add the unit decoder direction times STRENGTH")
    p.add_argument(
        "--positions",
        default="all",
        help="'all' (BOS excepted) or comma-separated positions; negative counts from the end",
    )
    p.add_argument(
        "--no-error-term", action="store_true", help="splice the bare reconstruction (default keeps x - SAE(x))"
    )
    p.add_argument(
        "--max-act",
        type=float,
        default=None,
        help="max activation for '10x' clamps (default: the run's feature store, analysis/features.db, for this SAE; "
        "without one, measured on --max-act-contexts validation contexts)",
    )
    p.add_argument("--max-act-contexts", type=int, default=256)
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_steer)

    p = sub.add_parser("effects", help="a feature on one text: per-token ablation effects and logit attribution")
    _run_args(p)
    p.add_argument("--feature", type=int, required=True)
    p.add_argument("--text", required=True)
    p.add_argument(
        "--position", type=int, default=None, help="position for the contributions (default: where the feature peaks)"
    )
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_effects)

    p = sub.add_parser("monitor", help="stream text or JSONL files and report where features fire (JSON lines)")
    _run_args(p)
    p.add_argument("--features", required=True, help="comma-separated feature indices")
    p.add_argument("--threshold", type=float, default=0.0, help="report activations above this")
    p.add_argument("files", nargs="+", metavar="FILE", help="text files (one document each) or .jsonl files")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text")
    p.add_argument(
        "--on-error",
        choices=["stop", "skip"],
        default="stop",
        help="at a bad file or line: stop, or report it and go on",
    )
    p.add_argument("--context", type=int, default=8, help="tokens of context on each side of a hit")
    p.add_argument("--batch-contexts", type=int, default=32)
    p.add_argument("--out", default=None, help="write the JSON lines here instead of stdout")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("design", help="search for token sequences that maximally activate a feature (GCG-style)")
    _run_args(p)
    p.add_argument("--feature", type=int, required=True)
    p.add_argument("--length", type=int, default=12)
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--candidates", type=int, default=256)
    p.add_argument("--top-k", type=int, default=64)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--init",
        choices=["random", "corpus"],
        default="random",
        help="start from random tokens or the best corpus example",
    )
    p.add_argument(
        "--corpus-contexts", type=int, default=256, help="validation contexts searched for the best corpus example"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("domain-features", help="for each domain label, the feature that best separates its tokens")
    _run_args(p)
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--contexts", type=int, default=512)
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
    from monoscope.errors import MonoscopeError
    from monoscope.steer.edits import parse_features
    from monoscope.steer.monitor import MonitorConfig, monitor_files

    cfg = MonitorConfig(
        features=parse_features(a.features),
        threshold=a.threshold,
        text_field=a.text_field,
        on_error=a.on_error,
        context_tokens=a.context,
        batch_contexts=a.batch_contexts,
    )
    if a.out and Path(a.out).exists() and not a.overwrite:
        raise MonoscopeError(f"{a.out} exists; pass --overwrite or choose another --out")
    run = _load(a)
    with contextlib.ExitStack() as stack:
        if a.out:
            out = stack.enter_context(open(Path(a.out).with_name(Path(a.out).name + ".tmp"), "w", encoding="utf-8"))
        else:
            out = sys.stdout
        summary = monitor_files(
            run.model,
            run.sae,
            run.dataset.tokenizer,
            run.dataset.bos_id,
            a.files,
            cfg,
            lambda h: out.write(json.dumps(h, ensure_ascii=False) + "\n"),
            run.hook,
            run.dataset.positions,
        )
        out.write(json.dumps({"summary": summary}, ensure_ascii=False) + "\n")
    if a.out:
        Path(out.name).replace(a.out)
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
    fs = find_domain_features(run.model, run.sae, run.hook, run.dataset, a.split, a.contexts, progress=not a.quiet)
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
