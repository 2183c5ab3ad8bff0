"""Dead latents of a trained SAE over two stated windows, with the evals beside them.

"Dead" depends on the window. `monoscope eval` counts it over the validation
split (a few documents per domain, so a large dictionary has latents for
content that split never shows). This bench also evaluates on training-split
contexts that the activation store did *not* harvest: documents the SAE never
saw, from the same distribution (at most `--max-contexts` of them). One figure:
the dead fraction over the unharvested training contexts against the dead
fraction over the validation split (L0, FVU and loss recovered of both beside).

    python bench/dead_latents.py [--run runs/demo]
"""

from __future__ import annotations

import common
import numpy as np


def main() -> None:
    ap = common.parser(__doc__)
    # 4,000 contexts of 128 tokens: 512k held-out tokens, the ≥ 500k window the dead-latent figure is defined on
    ap.add_argument("--max-contexts", type=int, default=4000, help="unharvested training contexts evaluated")
    a = ap.parse_args()
    common.check_device(a.device)
    run = common.open_run(a.run, a.device)
    from monoscope.activations import ActivationStore
    from monoscope.evals import EvalConfig, evaluate

    store = ActivationStore(common.hook_store(a.run))
    harvested_rows = int(store.index(np.array([len(store) - 1]))[0, 3]) + 1  # the store holds train contexts 0..this-1
    train = run.dataset.split("train").tokens
    cap = 16 if a.quick else a.max_contexts
    windows = {"val": run.dataset.split("val").tokens[:cap], "train_not_harvested": train[harvested_rows:][:cap]}
    res = {}
    for name, tokens in windows.items():
        if len(tokens) == 0:
            continue
        r = evaluate(
            run.model,
            run.sae,
            tokens,
            cfg=EvalConfig(n_contexts=len(tokens), device=a.device),
            positions=run.dataset.positions,
            progress=False,
        )
        res[name] = {
            "contexts": len(tokens),
            "tokens": r["dead_window_tokens"],
            "dead_fraction": r["dead_fraction"],
            "l0": round(r["l0"], 2),
            "fvu": round(r["fvu"], 4),
            "loss_recovered": round(r["loss_recovered"], 4),
        }
    rec = common.Recorder("dead_latents", a)
    if "train_not_harvested" not in res:
        rec.figure(
            "dead fraction, validation",
            res["val"]["dead_fraction"],
            "fraction",
            note="the store harvested the whole training split",
            val=res["val"],
            sae=str(run.sae_folder),
        )
        return
    u, v = res["train_not_harvested"], res["val"]
    rec.figure(
        "dead fraction, unharvested training contexts",
        u["dead_fraction"],
        "fraction",
        "validation split",
        v["dead_fraction"],
        train_not_harvested=u,
        val=v,
        sae=str(run.sae_folder),
    )


if __name__ == "__main__":
    main()
