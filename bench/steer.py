"""Figures for steering through an SAE on the demo model (runs/demo, from `make demo`, by default).

Prints one JSON line per figure:
- `splice_fidelity`: max |logits(spliced with error term, no edits) - clean logits| over validation contexts
  (and the same without the error term, for scale).
- `domain_steering` (one line per domain): the share of generated tokens judged in the domain
  (monoscope.steer.domains: CJK Unicode blocks; base64 = runs of >= 16 [A-Za-z0-9+/=] chars mixing digits/'+/'
  and letters; hex = runs of >= 8 hex digits) over N prompts, baseline vs with the domain's feature clamped to
  `--clamp` x its max activation (error term kept), same sampling seed per prompt.
  Prompts: the first `--prompt-tokens` tokens of validation documents of the python and prose domains.
- `design_vs_corpus` (one line per domain feature): GCG-style designed sequence activation vs the best
  example in all validation contexts.
Writes domain_steering.png and figures.json to --out.

    python bench/steer.py --sae runs/demo --out /tmp/steer_figures
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from monoscope.io import write_json
from monoscope.run import load_run
from monoscope.steer import Edit, steer, steering
from monoscope.steer.design import DesignConfig, design_inputs
from monoscope.steer.domains import find_domain_features, tokens_in_domain
from monoscope.steer.generate import SampleConfig, sample
from monoscope.steer.scan import best_corpus_example, feature_max_acts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default="runs/demo")
    ap.add_argument("--out", default="/tmp/steer_figures")
    ap.add_argument("--domains", default="cjk,base64,hex")
    ap.add_argument("--features", default=None, help="skip the search: cjk=698,base64=1504")
    ap.add_argument("--search-contexts", type=int, default=800, help="train contexts used to find domain features")
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--prompt-tokens", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--clamp", type=float, default=10.0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--design-steps", type=int, default=60)
    a = ap.parse_args()
    run = load_run(a.sae)
    model, sae, ds, hook = run.model, run.sae, run.dataset, run.hook
    val = ds.split("val").tokens
    figures = []

    def emit(rec):
        print(json.dumps(rec), flush=True)
        figures.append(rec)

    # 1. splice fidelity
    with torch.no_grad():
        toks = val[:64]
        clean = model(toks)
        with steer(model, sae, [], hook, error_term=True):
            err = (model(toks) - clean).abs().max().item()
        with steer(model, sae, [], hook, error_term=False):
            bare = (model(toks) - clean).abs().max().item()
    emit(
        {
            "figure": "splice_fidelity",
            "max_abs_logit_diff_with_error_term": err,
            "max_abs_logit_diff_without_error_term": bare,
            "contexts": len(toks),
            "tolerance": 1e-5,
            "within_tolerance": err <= 1e-5,
        }
    )

    # 2. domain steering
    domains = a.domains.split(",")
    if a.features:
        feats = {k: int(v) for k, v in (kv.split("=") for kv in a.features.split(","))}
    else:
        t0 = time.time()
        found = find_domain_features(model, sae, hook, ds, "train", a.search_contexts)
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
    max_acts = feature_max_acts(model, sae, hook, val[:256], ds.bos_id)
    src = [d for d in ds.docs if d["split"] == "val" and d["domain"] in ("python", "prose")]
    src = sorted(src, key=lambda d: (d["domain"], d["id"]))
    per = {dom: [d for d in src if d["domain"] == dom] for dom in ("python", "prose")}
    picked = [x for pair in zip(per["python"], per["prose"]) for x in pair][: a.prompts]
    prompts = [[ds.bos_id] + ds.tokenizer.encode(d["text"]).ids[: a.prompt_tokens] for d in picked]
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
            "figure": "domain_steering",
            "domain": dom,
            "feature": f,
            "clamp": f"{a.clamp:g}x max",
            "max_activation": round(float(max_acts[f]), 4),
            "prompts": len(prompts),
            "new_tokens": a.new_tokens,
            "temperature": a.temperature,
            "baseline_in_domain_share": round(base_in / base_n, 4),
            "steered_in_domain_share": round(st_in / st_n, 4),
            "example": example,
        }
        rows.append(row)
        emit(row)

    # 3. input design vs best corpus example
    for dom in domains:
        f = feats[dom]
        ex = best_corpus_example(model, sae, hook, val, f, ds.bos_id)
        r = design_inputs(model, sae, f, DesignConfig(steps=a.design_steps), ds.bos_id, hook)
        best = r["sequences"][0]
        emit(
            {
                "figure": "design_vs_corpus",
                "domain": dom,
                "feature": f,
                "designed_activation": round(best["activation"], 4),
                "corpus_best_activation": round(ex.activation, 4),
                "gap_designed_minus_corpus": round(best["activation"] - ex.activation, 4),
                "designed_text": ds.decode(best["tokens"]),
                "length": len(best["tokens"]),
                "steps_run": r["steps_run"],
                "val_contexts_searched": len(val),
            }
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
