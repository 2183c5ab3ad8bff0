"""Shared by the steer tests: the quick demo run loaded once, and a feature that fires on it."""

from __future__ import annotations

import torch


def load(tiny_run):
    from monoscope.run_folder import load_run

    out, _ = tiny_run
    return load_run(out)


def active_feature(run, n_contexts: int = 8) -> tuple[int, float]:
    """The feature with the largest total activation on a few validation contexts, and its max."""
    from monoscope.steer.scan import feature_max_acts, iter_feature_acts

    toks = run.dataset.split("val").tokens[:n_contexts]
    tot = sum(f.sum((0, 1)) for _, _, f in iter_feature_acts(run.model, run.sae, run.hook, toks))
    i = int(tot.argmax())
    return i, float(feature_max_acts(run.model, run.sae, run.hook, toks, run.dataset.bos_id)[i])


def peak_context(run, i: int, n_contexts: int = 8) -> torch.Tensor:
    """The validation context (of the first few) on which feature i reaches its largest activation."""
    from monoscope.steer.scan import iter_feature_acts

    toks = run.dataset.split("val").tokens[:n_contexts]
    peaks = torch.cat([f[..., i].amax(1) for _, _, f in iter_feature_acts(run.model, run.sae, run.hook, toks)])
    assert peaks.max() > 0, f"feature {i} fires on none of the first {n_contexts} validation contexts"
    return toks[int(peaks.argmax())]


def hook_value(run, tokens: torch.Tensor) -> torch.Tensor:
    """The hook's value as the rest of the model sees it (after any splice hook already attached)."""
    _, cache = run.model.run_with_cache(tokens, names=[run.hook], stop_early=True)
    return cache[run.hook]
