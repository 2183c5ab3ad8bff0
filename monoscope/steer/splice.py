"""Steering through an SAE: feature edits (clamp, scale, ablate, add) applied by the one splice (sae/splice.py).

At the hook, x is replaced by SAE(x) with the chosen features edited; with the
error term the residual x - SAE(x) is added back, so the model sees exactly x
except for what the edits changed. Positions that do not count (the leading
BOS, BOS and separator tokens: data/positions.py) pass through untouched, as
the SAE never saw them in training.

    with steer(model, sae, [Edit(12, "clamp", 10, relative=True)], max_acts=m, positions=dataset.positions):
        logits = model(tokens)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch

from monoscope.data.positions import Positions
from monoscope.sae.splice import check_splice, splice_hooks
from monoscope.steer.edits import Edit, resolve


def _index(positions: tuple[int, ...] | None, T: int) -> torch.Tensor | slice:
    if positions is None:
        return slice(None)
    idx = sorted({p + T if p < 0 else p for p in positions if -T <= p < T})
    return torch.tensor(idx, dtype=torch.long)


def edit_features(f: torch.Tensor, edits: Sequence[Edit], W_dec: torch.Tensor | None = None) -> torch.Tensor:
    """Apply edits to activations f [..., T, d_sae]; returns a new tensor. Clamps, scales and ablations first; then
    each `add` of strength s along the unit decoder direction, which in feature space is f_i += s / |W_dec[i]|
    (`W_dec` is needed for adds)."""
    f = f.clone()
    T = f.shape[-2]
    for e in sorted(edits, key=lambda e: e.op == "add"):
        pos = _index(e.positions, T)
        col = f[..., pos, e.feature]
        if e.op == "clamp":
            f[..., pos, e.feature] = torch.full_like(col, e.value)
        elif e.op == "scale":
            f[..., pos, e.feature] = col * e.value
        elif e.op == "ablate":
            f[..., pos, e.feature] = 0.0
        elif e.op == "add":
            f[..., pos, e.feature] = col + e.value / W_dec[e.feature].norm().clamp_min(1e-12)
    return f


def steering(
    model,
    sae,
    edits: Sequence[Edit] = (),
    hook: str | None = None,
    error_term: bool = True,
    max_acts: torch.Tensor | Mapping[int, float] | None = None,
    positions: Positions | int | None = None,
):
    """Check and resolve once, for repeated use (e.g. every generation step).

    Returns (a function giving a fresh context manager that attaches the splice, the resolved edits).
    """
    hook = check_splice(model, sae, hook)
    resolved = resolve(edits, sae.d_sae, max_acts)
    edit = (lambda f: edit_features(f, resolved, sae.W_dec)) if resolved else None
    hooks = splice_hooks(sae, hook, positions, edit, error_term)
    return (lambda: model.hooks(hooks)), resolved


@contextlib.contextmanager
def steer(
    model,
    sae,
    edits: Sequence[Edit] = (),
    hook: str | None = None,
    error_term: bool = True,
    max_acts: torch.Tensor | Mapping[int, float] | None = None,
    positions: Positions | int | None = None,
) -> Iterator[list[Edit]]:
    """Splice `sae` into `model` with `edits` for the duration of the block; yields the resolved edits.

    With `error_term` and no edits the model's output is unchanged.
    """
    attach, resolved = steering(model, sae, edits, hook, error_term, max_acts, positions)
    with attach():
        yield resolved


def splice(model, sae, hook: str | None = None, error_term: bool = True, positions: Positions | int | None = None):
    """Splice without edits: the SAE's reconstruction (plus the error term if asked) replaces the hook's value."""
    return steer(model, sae, (), hook, error_term, positions=positions)
