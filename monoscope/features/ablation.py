"""Per-token loss change when one feature is ablated in an example's window.

The edit is the one splice (sae/splice.py) with the error term: x' = SAE(x with
f_i = 0) + (x - SAE(x)) = x - f_i(x) · W_dec[i], so only that feature changes.
It is applied at every counted token of the shown window (each example of a
batch ablates its own feature in its own window); the change in next-token loss
is reported on the token being predicted (positive: the feature helped predict it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from monoscope.data.positions import Positions
from monoscope.sae.splice import splice_hooks


@dataclass
class AblationExample:
    row: int  # context row in the token split
    feat: int
    start: int  # first window column
    acts: list  # the feature's activation at columns start, start+1, ...


@torch.no_grad()
def _logits_at(model, tokens: torch.Tensor, hooks, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Logits at (rows, cols) only: the unembedding is applied to the positions asked for, not the whole batch."""
    u = model.unembed
    if u is None:
        return model.run_with_hooks(tokens, fwd_hooks=hooks)[rows, cols]
    _, cache = model.run_with_cache(tokens, names=[u.hook], stop_early=True, fwd_hooks=hooks)
    return u.logits(cache[u.hook][rows, cols])


@torch.no_grad()
def clean_losses(model, tokens: torch.Tensor, rows: list[int], batch: int = 16) -> torch.Tensor:
    """Next-token loss [len(rows), T-1] of the unedited model, once per context row."""
    from monoscope.models.transformer import lm_loss

    out = []
    for s in range(0, len(rows), batch):
        t = tokens[rows[s : s + batch]].long()
        out.append(lm_loss(model(t), t, per_token=True).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, tokens.shape[1] - 1)


def _ablate_windows(feats: torch.Tensor, window: torch.Tensor):
    """An edit zeroing, in row b, feature feats[b] at the positions window[b] marks."""
    b, t = window.nonzero(as_tuple=True)

    def edit(f: torch.Tensor) -> torch.Tensor:
        f = f.clone()
        f[b, t, feats[b].to(f.device)] = 0.0
        return f

    return edit


@torch.no_grad()
def ablation_loss_deltas(
    model,
    sae,
    hook: str,
    tokens: torch.Tensor,
    examples: list[AblationExample],
    positions: Positions | int | None = None,
    batch: int = 64,
    progress: bool = True,
) -> list[list[float]]:
    """For each example, [Δloss on window token j] with j = 0 fixed at 0.0 (its prediction precedes the edit)."""
    uniq = sorted({e.row for e in examples})
    where = {r: k for k, r in enumerate(uniq)}
    clean = clean_losses(model, tokens, uniq)
    order = sorted(range(len(examples)), key=lambda e: examples[e].start + len(examples[e].acts))
    out: list[list[float]] = [[0.0] * len(e.acts) for e in examples]
    for s in tqdm(range(0, len(order), batch), desc="ablation", disable=not progress):
        idx = order[s : s + batch]
        exs = [examples[e] for e in idx]
        L = max(e.start + len(e.acts) for e in exs)
        t = torch.stack([tokens[e.row, :L] for e in exs]).long()
        window = torch.zeros(len(exs), L, dtype=torch.bool)
        for b, e in enumerate(exs):
            window[b, e.start : e.start + len(e.acts)] = True
        feats = torch.tensor([e.feat for e in exs])
        ablate = splice_hooks(sae, hook, positions, _ablate_windows(feats, window))

        owner, slot, rows, cols = [], [], [], []
        for b, e in enumerate(exs):
            for j in range(1, len(e.acts)):
                owner.append(b)
                slot.append(j)
                rows.append(b)
                cols.append(e.start + j - 1)  # the position that predicts window token j
        if not rows:
            continue
        r, c = torch.tensor(rows), torch.tensor(cols)
        logits = _logits_at(model, t, ablate, r, c)
        nll = F.cross_entropy(logits.float(), t[r, c + 1], reduction="none").cpu()
        base = clean[torch.tensor([where[exs[b].row] for b in owner]), c]
        d = (nll - base).tolist()
        for k, (b, j) in enumerate(zip(owner, slot)):
            out[idx[b]][j] = round(d[k], 5)
    return out
