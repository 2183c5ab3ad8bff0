"""Figures for steering through an SAE on the demo model (runs/demo, from `make demo`, by default).

Prints one JSON line per figure:
- `splice fidelity`: max |logits(spliced with error term, no edits) - clean logits| over validation contexts,
  against the same without the error term (the ratio says how much of the SAE's error the term takes back).
- `domain steering <domain>` (one line per domain the corpus and monoscope.steer.domains both know): the
  share of generated tokens judged in the domain
  (monoscope.steer.domains: CJK Unicode blocks; base64 = runs of >= 16 [A-Za-z0-9+/=] chars mixing digits/'+/'
  and letters; hex = runs of >= 8 hex digits) over N prompts, baseline vs with the domain's feature clamped to
  `--clamp` x its max activation (error term kept), same sampling seed per prompt.
  Prompts: the first `--prompt-tokens` tokens of validation documents of the python and prose domains.
- `design vs corpus <domain>` (one line per domain feature): GCG-style designed sequence activation vs the
  best example in all validation contexts.
Writes domain_steering.png and figures.json to --out.

    python bench/steer.py [--run runs/demo] [--out bench/out/steer] [--device cpu|cuda]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import common
import torch


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--domains", default=None, help="comma-separated (default: every judged domain of the corpus)")
    ap.add_argument("--features", default=None, help="skip the search: domain=feature,...")
    ap.add_argument("--search-contexts", type=int, default=800, help="train contexts used to find domain features")
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--prompt-tokens", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--clamp", type=float, default=10.0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--design-steps", type=int, default=60)
    a = ap.parse_args()
    common.check_device(a.device)
    run = common.open_run(a.run, a.device)
    from monoscope.io import write_json
    from monoscope.steer import Edit, steer, steering
    from monoscope.steer.design import DesignConfig, design_inputs
    from monoscope.steer.domains import JUDGED, find_domain_features, tokens_in_domain
    from monoscope.steer.generate import SampleConfig, sample
    from monoscope.steer.scan import best_corpus_example, feature_max_acts

    if a.quick:
        a.search_contexts, a.prompts, a.new_tokens, a.design_steps = 10**6, 2, 8, 3  # the tiny split is all searched
    model, sae, ds, hook = run.model, run.sae, run.dataset, run.hook
    val = ds.split("val").tokens
    figures = []
    rec = common.Recorder("steer", a)

    def emit(figure, value, unit, peer=None, peer_value=None, ratio=None, **details):
        figures.append(rec.figure(figure, value, unit, peer, peer_value, ratio, **details))

    # 1. splice fidelity
    with torch.no_grad():
        toks = val[:64].to(a.device)
        clean = model(toks)
        with steer(model, sae, [], hook, error_term=True):
            err = (model(toks) - clean).abs().max().item()
        with steer(model, sae, [], hook, error_term=False):
            bare = (model(toks) - clean).abs().max().item()
    emit(
        "splice fidelity",
        err,
        "max |logit diff| with error term",
        "without error term",
        bare,
        contexts=len(toks),
        tolerance=1e-5,
        within_tolerance=err <= 1e-5,
    )

    # 2. domain steering
    have = {d["domain"] for d in ds.docs}
    domains = a.domains.split(",") if a.domains else [d for d in JUDGED if d in have]
    if not domains:
        print(json.dumps({"note": f"the corpus has none of the judged domains {JUDGED}; no steering figures"}))
    if not domains:
        feats = {}
    elif a.features:
        feats = {k: int(v) for k, v in (kv.split("=") for kv in a.features.split(","))}
    else:
        t0 = time.time()
        found = find_domain_features(model, sae, hook, ds, "train", a.search_contexts)
        missing = [d for d in domains if d not in found]
        if missing:
            print(json.dumps({"note": f"no text of {', '.join(missing)} in the first {a.search_contexts} contexts"}))
            domains = [d for d in domains if d in found]
        feats = {d: found[d].feature for d in domains}
        print(
            json.dumps(
                {
                    "note": "domain features",
                    "seconds": round(time.time() - t0, 1),
                    **{
                        d: {
                            "feature": found[d].feature,
                            "cohen_d": round(found[d].cohen_d, 3),
                            "precision": round(found[d].precision, 3),
                        }
                        for d in domains
                    },
                }
            ),
            flush=True,
        )
    max_acts = feature_max_acts(model, sae, hook, val[:256].to(a.device), ds.positions)
    # prompts: validation documents of the domains that are not judged, taken in turn from each
    per: dict[str, list[dict]] = {}
    for d in sorted(ds.docs, key=lambda d: (d["domain"], d["id"])):
        if d["split"] == "val" and d["domain"] not in JUDGED:
            per.setdefault(d["domain"], []).append(d)
    picked = [x for group in zip(*per.values()) for x in group][: a.prompts] if per else []
    prompts = [[ds.bos_id] + ds.tokenizer.encode(d["text"]).ids[: a.prompt_tokens] for d in picked]
    if domains and not prompts:
        common.fail("the validation split has no document outside the judged domains to prompt with")
    rows = []
    for dom in domains:
        f = feats[dom]
        intervention, _ = steering(model, sae, [Edit(f, "clamp", a.clamp, relative=True)], hook, True, max_acts)
        base_in = base_n = st_in = st_n = 0
        example = None
        for k, p in enumerate(prompts):
            cfg = SampleConfig(max_new_tokens=a.new_tokens, temperature=a.temperature, seed=k)
            b = sample(model, p, cfg)["tokens"]
            s = sample(model, p, cfg, intervention)["tokens"]
            bj, sj = tokens_in_domain(ds.tokenizer, b, dom), tokens_in_domain(ds.tokenizer, s, dom)
            base_in, base_n, st_in, st_n = base_in + sum(bj), base_n + len(bj), st_in + sum(sj), st_n + len(sj)
            if example is None:
                example = {"prompt": ds.decode(p[1:]), "baseline": ds.decode(b), "steered": ds.decode(s)}
        row = {
            "domain": dom,
            "feature": f,
            "baseline_in_domain_share": round(base_in / base_n, 4),
            "steered_in_domain_share": round(st_in / st_n, 4),
        }
        rows.append(row)
        emit(
            f"domain steering {dom}",
            st_in / st_n,
            "share of generated tokens in domain",
            "unsteered, same seeds",
            base_in / base_n,
            ratio=(st_in / st_n) / max(base_in / base_n, 1e-9),
            feature=f,
            clamp=f"{a.clamp:g}x max",
            max_activation=round(float(max_acts[f]), 4),
            prompts=len(prompts),
            new_tokens=a.new_tokens,
            temperature=a.temperature,
            example=example,
        )

    # 3. input design vs best corpus example
    for dom in domains:
        f = feats[dom]
        ex = best_corpus_example(model, sae, hook, val.to(a.device), f, ds.positions)
        r = design_inputs(model, sae, f, DesignConfig(steps=a.design_steps), ds.bos_id, hook)
        best = r["sequences"][0]
        emit(
            f"design vs corpus {dom}",
            best["activation"],
            "activation",
            "best validation example",
            ex.activation,
            feature=f,
            designed_text=ds.decode(best["tokens"]),
            length=len(best["tokens"]),
            steps_run=r["steps_run"],
            val_contexts_searched=len(val),
        )

    out = Path(a.out)
    write_json(out / "figures.json", figures)
    from monoscope.plots import plt, save

    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["baseline_in_domain_share"] for r in rows], 0.4, label="baseline")
    ax.bar([i + 0.2 for i in x], [r["steered_in_domain_share"] for r in rows], 0.4, label=f"clamped {a.clamp:g}x max")
    ax.set_xticks(list(x), [f"{r['domain']} (#{r['feature']})" for r in rows])
    ax.set_ylabel("share of generated tokens in domain")
    ax.set_title(f"steering on {len(prompts)} prompts x {a.new_tokens} tokens")
    ax.legend()
    save(fig, out / "domain_steering.png")


if __name__ == "__main__":
    main()
