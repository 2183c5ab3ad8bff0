"""The seed's claim, measured: per token-level context, the best SAE feature against the best neuron.

One computation for the demo's summary and the report's `context_goal`: the
best unit per context is chosen on `select_contexts` training contexts spread
over the split and measured on the validation contexts, for every SAE given,
and judged by `goal.token_goal`. Same inputs, same numbers, wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monoscope.features.contexts import Context, token_contexts
from monoscope.features.goal import token_goal
from monoscope.features.hypotheses import TokenActs, collect, evaluate_contexts


@dataclass
class ContextGoalConfig:
    select_contexts: int = 1024  # training contexts spread over the split: where the best unit is chosen
    eval_contexts: int | None = None  # validation contexts where it is measured (None: all)
    fires_frac: float = 0.1  # a unit fires above this fraction of its max activation on the selection tokens


def spread_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """At most n of `rows`, evenly spaced over them."""
    if len(rows) <= n:
        return rows
    return rows[np.unique(np.linspace(0, len(rows) - 1, n).round().astype(np.int64))]


def select_rows(dataset, n: int) -> np.ndarray:
    return spread_rows(np.arange(len(dataset.split("train"))), n)


def goal_over_saes(
    contexts: list[Context],
    se: TokenActs,
    ev: TokenActs,
    names: list[str],
    saes: list,
    fires_frac: float,
    first: list[dict] | None = None,
) -> dict:
    """token_goal over every SAE in `se`/`ev`; `first` reuses SAE 0's evaluate_contexts results (with probes)."""
    toks = [c for c in contexts if c.kind in ("script", "span")]
    per = [first if first is not None else evaluate_contexts(toks, se, ev, 0, fires_frac, 1, family=0)]
    per += [evaluate_contexts(toks, se, ev, i, fires_frac, 1, family=0) for i in range(1, len(saes))]
    infos = [{"name": n, "d_sae": s.d_sae, "architecture": s.architecture} for n, s in zip(names, saes)]
    return token_goal(infos, per)


def measure_context_goal(
    model, saes: list, names: list[str], dataset, hook: str, cfg: ContextGoalConfig, progress: bool = True
) -> dict:
    """Collect the selection and evaluation tokens and judge every token-level context of `dataset`."""
    contexts = token_contexts(dataset.meta.get("contexts"))
    ev = collect(model, saes, dataset, hook, "val", cfg.eval_contexts, progress=progress)
    se = collect(model, saes, dataset, hook, "train", rows=select_rows(dataset, cfg.select_contexts), progress=progress)
    out = goal_over_saes(contexts, se, ev, names, saes, cfg.fires_frac)
    out["n_select_tokens"], out["n_eval_tokens"] = len(se), len(ev)
    return out
