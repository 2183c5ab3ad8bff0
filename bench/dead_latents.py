"""Dead latents of a trained SAE over two stated windows, with the evals beside them.

"Dead" depends on the window. `monoscope eval` counts it over the validation
split (~98k tokens on the demo: a few documents per domain, so a 4096-latent
dictionary has latents for content that split never shows). This bench also
evaluates on the training-split contexts that the activation store did *not*
harvest: documents the SAE never saw, from the same distribution, ~8x more
tokens. Prints one JSON line per window:
  {"window", "tokens", "dead_fraction", "l0", "fvu", "loss_recovered", ...}

    python bench/dead_latents.py --sae runs/demo [--acts runs/demo/acts/blocks.0.mlp.hook_post]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from monoscope.activations import ActivationStore
from monoscope.evals import EvalConfig, evaluate
from monoscope.run import load_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default="runs/demo")
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--acts", default="runs/demo/acts/blocks.0.mlp.hook_post", help="the store the SAE was trained on")
    a = ap.parse_args()
    run = load_run(a.sae, model=a.model, data=a.data)
    store = ActivationStore(a.acts)
    harvested_rows = int(store.index(np.array([len(store) - 1]))[0, 3]) + 1  # the store holds train contexts 0..this-1
    train = run.dataset.split("train").tokens
    windows = {"val": run.dataset.split("val").tokens, "train_not_harvested": train[harvested_rows:]}
    for name, tokens in windows.items():
        if len(tokens) == 0:
            print(json.dumps({"window": name, "tokens": 0, "note": "the store harvested the whole split"}))
            continue
        r = evaluate(
            run.model,
            run.sae,
            tokens,
            cfg=EvalConfig(n_contexts=len(tokens)),
            positions=run.dataset.positions,
            progress=False,
        )
        print(
            json.dumps(
                {
                    "window": name,
                    "contexts": len(tokens),
                    "tokens": r["dead_window_tokens"],
                    "dead_fraction": round(r["dead_fraction"], 4),
                    "l0": round(r["l0"], 2),
                    "fvu": round(r["fvu"], 4),
                    "loss_recovered": round(r["loss_recovered"], 4),
                    "sae": str(run.sae_folder),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
