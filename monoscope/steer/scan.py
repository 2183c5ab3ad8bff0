"""Stream a dataset through model and SAE once, reducing feature activations as we go.

The full activation matrix of a split (tokens x d_sae) does not fit in memory
for realistic sizes, so every statistic here is a running reduction: the
maximum activation per feature (what "clamp to 10x max" needs), and the best
corpus example of a feature (what input design is compared with).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.features.contexts import rates


def iter_feature_acts(
    model, sae, hook: str, tokens: torch.Tensor, batch_contexts: int = 32, progress: bool = False, desc: str = "scan"
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield (first context index, tokens [b, T], activations [b, T, d_sae]) batch by batch."""
    if len(tokens) == 0:
        raise MonoscopeError("no contexts to scan: the token split is empty")
    dev = next(sae.parameters()).device
    with torch.no_grad():
        for i in tqdm(range(0, len(tokens), batch_contexts), desc=desc, disable=not progress, leave=False):
            t = tokens[i : i + batch_contexts].to(dev)
            _, cache = model.run_with_cache(t, names=[hook], stop_early=True)
            yield i, t, sae.encode(cache[hook].to(sae.W_dec.dtype))


def feature_max_acts(
    model,
    sae,
    hook: str,
    tokens: torch.Tensor,
    positions: Positions | int | None = None,
    batch_contexts: int = 32,
    progress: bool = False,
) -> torch.Tensor:
    """Maximum activation of every feature over the positions that count (data/positions.py): [d_sae]."""
    rule = Positions.of(positions)
    best = None
    for _, t, f in iter_feature_acts(model, sae, hook, tokens, batch_contexts, progress, "max activations"):
        f = f.masked_fill(~rule.mask(t)[..., None], 0.0)
        m = f.flatten(0, 1).max(0).values
        best = m if best is None else torch.maximum(best, m)
    return best.cpu()


@dataclass
class CorpusExample:
    activation: float
    context: int  # index of the context in the split
    position: int  # token position inside it
    tokens: list[int]  # the context up to and including the token


def best_corpus_example(
    model,
    sae,
    hook: str,
    tokens: torch.Tensor,
    feature: int,
    positions: Positions | int | None = None,
    batch_contexts: int = 32,
    progress: bool = False,
) -> CorpusExample:
    rule = Positions.of(positions)
    best = (float("-inf"), 0, 0)
    for i, t, f in iter_feature_acts(model, sae, hook, tokens, batch_contexts, progress, "best example"):
        a = f[..., feature].masked_fill(~rule.mask(t), float("-inf"))
        v, j = a.flatten().max(0)
        if float(v) > best[0]:
            best = (float(v), i + int(j) // t.shape[1], int(j) % t.shape[1])
    v, c, p = best
    return CorpusExample(v, c, p, tokens[c, : p + 1].tolist())


def domain_separation(
    model,
    sae,
    hook: str,
    tokens: torch.Tensor,
    token_domains: Callable[[int, torch.Tensor], list[str]],
    positions: Positions | int | None = None,
    batch_contexts: int = 32,
    progress: bool = False,
) -> dict[str, dict[str, torch.Tensor]]:
    """Per domain and feature: Cohen's d of activations in vs out of the domain, and precision and recall of firing
    (above 0) in the features' own definition (features/contexts.rates).

    `token_domains(first_context, tokens)` labels each token of a batch with its domain.
    """
    rule = Positions.of(positions)
    sums: dict[str, list[torch.Tensor]] = {}  # domain -> [n, sum, sumsq, fires]
    for i, t, f in iter_feature_acts(model, sae, hook, tokens, batch_contexts, progress, "domain features"):
        ok = rule.mask(t).flatten()
        labels = np.asarray(token_domains(i, t), dtype=object)[ok.cpu().numpy()]
        f = f.flatten(0, 1)[ok].double()
        for dom in set(labels.tolist()):
            g = f[torch.from_numpy(labels == dom).to(f.device)]
            s = sums.setdefault(
                dom,
                [torch.zeros((), dtype=torch.float64)]
                + [torch.zeros(f.shape[1], dtype=torch.float64, device=f.device) for _ in range(3)],
            )
            s[0] += g.shape[0]
            s[1] += g.sum(0)
            s[2] += g.pow(2).sum(0)
            s[3] += (g > 0).sum(0)
    if not sums:
        raise MonoscopeError("no labelled tokens to compare domains on")
    sums = {dom: [v.cpu() for v in s] for dom, s in sums.items()}
    tot = [sum(s[k] for s in sums.values()) for k in range(4)]
    out = {}
    for dom, (n, s1, s2, fires) in sums.items():
        n_out = tot[0] - n
        if n == 0 or n_out == 0:
            continue
        mu_in, mu_out = s1 / n, (tot[1] - s1) / n_out
        var_in = (s2 / n - mu_in**2).clamp_min(0)
        var_out = ((tot[2] - s2) / n_out - mu_out**2).clamp_min(0)
        d = (mu_in - mu_out) / ((var_in + var_out) / 2).sqrt().clamp_min(1e-9)
        r = rates(fires.numpy(), tot[3].numpy(), float(n))  # a unit fires above 0
        out[dom] = {
            "cohen_d": d.float(),
            "precision": torch.from_numpy(r["specificity"]).float(),
            "recall": torch.from_numpy(r["sensitivity"]).float(),
            "mean_in": mu_in.float(),
            "tokens": int(n),
        }
    return out
