"""One call per user task, taking a loaded run (monoscope.run_folder.Run): what the CLI and notebooks both call."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from monoscope.errors import MonoscopeError
from monoscope.sae.splice import check_splice
from monoscope.steer.design import DesignConfig, design_inputs
from monoscope.steer.domains import show_token
from monoscope.steer.edits import Edit, check_features
from monoscope.steer.effects import ablation_effects, feature_contributions
from monoscope.steer.generate import SampleConfig, compare, encode_prompt
from monoscope.steer.scan import best_corpus_example, feature_max_acts
from monoscope.steer.splice import steering


def _need_data(run) -> None:
    if run.dataset is None:
        raise MonoscopeError("this needs the run's dataset (tokenizer); pass --data FOLDER")


def run_store(run):
    """The feature store `monoscope analyze` wrote into the run folder for this SAE, or None (absent, or built for
    other weights)."""
    from monoscope.features.store import DB_NAME, FeatureStore

    path = run.folder / "analysis" / DB_NAME
    if not path.exists():
        return None
    try:
        return FeatureStore(path, sae_folder=run.sae_folder)
    except MonoscopeError:
        return None


def max_acts_for(
    run, edits: Sequence[Edit], given: float | None = None, n_contexts: int = 256, progress: bool = False, store=None
):
    """Max activations for relative clamps: the given value; else the feature store's (analysis measured them
    over its contexts, counted positions only); else measured on `n_contexts` validation contexts."""
    if not any(e.relative for e in edits):
        return None
    if given is not None:
        if not math.isfinite(given) or given <= 0:
            raise MonoscopeError(f"--max-act must be a finite positive number, got {given}")
        return {e.feature: given for e in edits}
    store = store if store is not None else run_store(run)
    if store is not None:
        return torch.tensor(store.max_acts())
    _need_data(run)
    toks = run.dataset.split("val").tokens[:n_contexts]
    return feature_max_acts(run.model, run.sae, run.hook, toks, run.dataset.positions, progress=progress)


def steered_generation(
    run,
    edits: Sequence[Edit],
    prompt: str,
    cfg: SampleConfig,
    error_term: bool = True,
    max_act: float | None = None,
    max_act_contexts: int = 256,
    progress: bool = False,
) -> dict:
    """Baseline vs steered continuation of `prompt` (see generate.compare), with the resolved edits."""
    _need_data(run)
    check_splice(run.model, run.sae, run.hook)
    check_features([e.feature for e in edits], run.sae.d_sae)
    ids = encode_prompt(run.dataset.tokenizer, run.dataset.bos_id, prompt)
    m = max_acts_for(run, edits, max_act, max_act_contexts, progress)
    intervention, resolved = steering(run.model, run.sae, edits, run.hook, error_term, m, run.dataset.positions)
    out = compare(run.model, run.dataset.tokenizer, ids, cfg, intervention)
    out["edits"] = [{"feature": e.feature, "op": e.op, "value": e.value, "positions": e.positions} for e in resolved]
    out["error_term"] = error_term
    return out


def effects(run, feature: int, text: str, position: int | None = None, top: int = 10) -> dict:
    """Ablation effects per token and the feature's contributions at one position, with readable tokens."""
    _need_data(run)
    check_features([feature], run.sae.d_sae)
    tok = run.dataset.tokenizer
    ids = encode_prompt(tok, run.dataset.bos_id, text)[: run.model.cfg.n_ctx]
    t = torch.tensor(ids)
    rule = run.dataset.positions
    abl = ablation_effects(run.model, run.sae, t, feature, run.hook, positions=rule)
    con = feature_contributions(run.model, run.sae, t, feature, run.hook, position, top, positions=rule)
    s = lambda i: show_token(tok, i)  # noqa: E731
    return {
        "feature": feature,
        "hook": run.hook,
        "tokens": [
            {"position": p, "token": s(i), "activation": a, "delta_logp": d}
            for p, (i, a, d) in enumerate(zip(ids, abl["activation"], abl["delta_logp"]))
        ],
        "contribution": {
            k: v
            for k, v in con.items()
            if k not in ("direct_logits", "total_effect_logits", "top_promoted", "top_suppressed")
        }
        | {
            "token": s(ids[con["position"]]),
            "top_promoted": [[s(i), v] for i, v in con["top_promoted"]],
            "top_suppressed": [[s(i), v] for i, v in con["top_suppressed"]],
        },
    }


def design(
    run, feature: int, cfg: DesignConfig, init: str = "random", corpus_contexts: int = 256, progress: bool = False
) -> dict:
    """Designed sequences for a feature, compared with its best example in the first validation contexts."""
    _need_data(run)
    check_splice(run.model, run.sae, run.hook)
    check_features([feature], run.sae.d_sae)
    if init not in ("random", "corpus"):
        raise MonoscopeError(f"init must be 'random' or 'corpus', got {init!r}")
    ds = run.dataset
    val = ds.split("val").tokens[:corpus_contexts]
    ex = best_corpus_example(run.model, run.sae, run.hook, val, feature, ds.positions, progress=progress)
    r = design_inputs(
        run.model,
        run.sae,
        feature,
        cfg,
        ds.bos_id,
        run.hook,
        init=ex.tokens[1:] if init == "corpus" else None,
        progress=progress,
    )
    for s in r["sequences"]:
        s["text"] = ds.decode(s["tokens"])
    best = r["sequences"][0]["activation"]
    r["init"] = init
    r["corpus_best"] = {
        "activation": ex.activation,
        "context": ex.context,
        "position": ex.position,
        "text_tail": ds.decode(ex.tokens[1:][-cfg.length :]),
        "contexts_searched": len(val),
    }
    r["designed_minus_corpus"] = best - ex.activation
    return r


def monitor(run, files: Sequence, cfg, out=None, overwrite: bool = False) -> dict:
    """Stream `files` through the run's model and SAE, writing one JSON line per hit and a last summary line to
    `out` (atomically: the file appears once complete) or to stdout; returns the summary."""
    import contextlib
    import json
    import sys

    from monoscope.io import open_atomic
    from monoscope.steer.monitor import monitor_files

    _need_data(run)
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open_atomic(out, overwrite, "--out")) if out else sys.stdout
        summary = monitor_files(
            run.model,
            run.sae,
            run.dataset.tokenizer,
            run.dataset.bos_id,
            files,
            cfg,
            lambda h: fh.write(json.dumps(h, ensure_ascii=False) + "\n"),
            run.hook,
            run.dataset.positions,
        )
        fh.write(json.dumps({"summary": summary}, ensure_ascii=False) + "\n")
    return summary
