"""A feature store of any size filled with plausible random evidence, for what reads stores at scale.

Analysing a real 65,536-latent SAE takes hours on a CPU; the dashboard's index
and pages only need a store of that shape (the same tables, panels and example
windows an analysis writes), so benchmarks and browser tests build one here
in seconds. Nothing in it describes a real model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monoscope.features.store import DB_NAME, VERSION, ExampleRow, StoreWriter


def synthetic_store(
    folder: Path | str,
    d_sae: int = 65_536,
    vocab_size: int = 4096,
    top_k: int = 20,
    quantile_examples: int = 40,
    window: tuple[int, int] = (12, 4),
    seed: int = 0,
) -> Path:
    """Write FOLDER/features.db with `d_sae` features of random but well-formed evidence; returns its path."""
    rng = np.random.default_rng(seed)
    before, after = window
    W = before + after + 1
    n_tokens, n_ctx, bins = 1_000_000, 128, 10
    writer = StoreWriter(Path(folder) / DB_NAME)
    try:
        vocab = [f"t{i}" if i % 7 else f" w{i}" for i in range(vocab_size)]
        density = (10 ** rng.uniform(-6, -1, d_sae)).tolist()
        max_act = rng.uniform(0.5, 20, d_sae).tolist()
        label_ids = rng.integers(0, vocab_size, (d_sae, 3)).tolist()
        hist = rng.integers(0, 500, (d_sae, 64)).tolist()
        lhist = rng.integers(0, 900, (d_sae, 32)).tolist()
        lo = -rng.uniform(0.05, 0.5, d_sae)
        edges = (np.array(max_act)[:, None] / 64 * np.arange(65)).round(6).tolist()
        ledges = (lo[:, None] * (1 - 2 * np.arange(33) / 32)).round(5).tolist()

        def pairs(k, hi):
            ids, vals = rng.integers(0, hi, (d_sae, k)).tolist(), rng.uniform(-1, 1, (d_sae, k)).round(4).tolist()
            return [list(zip(i, v)) for i, v in zip(ids, vals)]  # tuples: written as JSON pairs

        top_t, bot_t, nb, ne, cn, cf = (
            pairs(10, vocab_size),
            pairs(10, vocab_size),
            pairs(10, d_sae),
            pairs(8, 512),
            pairs(8, 512),
            pairs(8, d_sae),
        )

        def panels(i):
            return {
                "hist": {"edges": edges[i], "counts": hist[i]},
                "logits": {
                    "top": top_t[i],
                    "bottom": bot_t[i],
                    "hist": {"edges": ledges[i], "counts": lhist[i]},
                },
                "neighbours": nb[i],
                "neurons": ne[i],
                "corr_neurons": cn[i],
                "corr_features": cf[i],
            }

        writer.features(
            (
                i,
                density[i],
                max_act[i],
                max_act[i] / 3,
                int(density[i] * n_tokens),
                " · ".join(vocab[t] for t in label_ids[i]),
                panels(i),
            )
            for i in range(d_sae)
        )

        # example e = i * per + r: the feature's top_k top examples (falling from its max), then its quantile samples
        per = top_k + quantile_examples
        n_ex = d_sae * per
        r = np.arange(per)
        qbin = np.where(r >= top_k, (r - top_k) * bins // max(quantile_examples, 1), 0)
        rel = np.where(r < top_k, 1 - r / (2 * max(top_k, 1)), (qbin + 0.5) / bins)
        act = (np.array(max_act)[:, None] * rel[None]).reshape(-1)
        frac = np.where(rng.random((n_ex, W)) < 0.2, rng.random((n_ex, W)), 0.0)
        frac[:, before] = 1.0
        acts = (frac * act[:, None]).round(4).tolist()
        act, qbin = act.round(5).tolist(), qbin.tolist()
        toks = rng.integers(0, vocab_size, (n_ex, W)).tolist()
        rows = rng.integers(0, n_tokens // n_ctx, n_ex).tolist()
        cols = rng.integers(before, n_ctx - after, n_ex).tolist()
        docs = rng.integers(0, 5000, n_ex).tolist()
        loss = rng.normal(0, 0.01, (d_sae, min(3, top_k), W)).round(5).tolist()

        def examples():
            for e in range(n_ex):
                i, k = divmod(e, per)
                top = k < top_k
                ls = loss[i][k] if top and k < 3 else None
                rank = k if top else k - top_k
                kind = "top" if top else "quantile"
                yield ExampleRow(i, kind, rank, qbin[k], act[e], rows[e], cols[e], docs[e], cols[e], cols[e] - before,
                                 toks[e], acts[e], ls)  # fmt: skip

        writer.examples(examples())
        writer.vocab(vocab)
        writer.meta(
            {
                "version": VERSION,
                "sae_path": "synthetic",
                "sae_hash": "synthetic",
                "d_sae": d_sae,
                "d_in": 512,
                "hook": "blocks.0.mlp.hook_post",
                "architecture": "synthetic",
                "split": "train",
                "n_tokens": n_tokens,
                "model_path": "",
                "data_path": "",
                "n_ctx": n_ctx,
                "bos_id": 0,
                "config": {"quantile_bins": bins, "top_k": top_k, "before": before, "after": after},
                "ln_scale": None,
                "logit_effects": True,
                "corr_tokens": 65_536,
                "domains": [f"domain{d % 8}" for d in range(5000)],
                "synthetic": True,
            }
        )
        return writer.commit()
    except BaseException:
        writer.abort()
        raise
