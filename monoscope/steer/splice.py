"""Splice an SAE into a hook point of a subject model, optionally editing features on the way.

At the hook, x is replaced by SAE(x) with the chosen features edited; with the
error term the residual x - SAE(x) is added back, so the model sees exactly x
except for what the edits changed (x' = decode(f') + (x - decode(f))). BOS
positions pass through untouched, as the SAE never saw them in training.

    with steer(model, sae, [Edit(12, "clamp", 10, relative=True)], max_acts=m):
        logits = model(tokens)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch

from monoscope.errors import MonoscopeError
from monoscope.steer.edits import Edit, resolve


def hook_width(model, hook: str) -> int:
    """Width of a hook's value, measured with a one-token forward that stops at the hook."""
    model.check_hook(hook)
    p = next(model.parameters(), None)
    dev = p.device if p is not None else "cpu"
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.zeros(1, 1, dtype=torch.long, device=dev), names=[hook], stop_early=True)
    return int(cache[hook].shape[-1])


def check_splice(model, sae, hook: str | None = None) -> str:
    """The hook to splice at (default: the SAE's metadata.hook_name), checked against the model's hooks and width."""
    hook = hook or sae.cfg.metadata.get("hook_name")
    if not hook:
        raise MonoscopeError("the SAE's metadata names no hook_name; pass the hook to splice at")
    model.check_hook(hook)
    width = hook_width(model, hook)
    if width != sae.d_in:
        raise MonoscopeError(
            f"the SAE reads d_in={sae.d_in} but hook {hook} of this model has width {width}; "
            "the SAE was trained on another model or hook"
        )
    return hook


def _index(positions: tuple[int, ...] | None, T: int, exclude_bos: bool) -> torch.Tensor | slice:
    if positions is None:
        return slice(1 if exclude_bos else 0, None)
    idx = sorted({p + T if p < 0 else p for p in positions if -T <= p < T})
    return torch.tensor(idx, dtype=torch.long)


def edit_features(f: torch.Tensor, edits: Sequence[Edit], exclude_bos: bool = True) -> torch.Tensor:
    """Apply clamp/scale/ablate edits to activations f [..., T, d_sae]; returns a new tensor."""
    f = f.clone()
    T = f.shape[-2]
    for e in edits:
        if e.op == "add":
            continue
        pos = _index(e.positions, T, exclude_bos)
        col = f[..., pos, e.feature]
        if e.op == "clamp":
            f[..., pos, e.feature] = torch.full_like(col, e.value)
        elif e.op == "scale":
            f[..., pos, e.feature] = col * e.value
        elif e.op == "ablate":
            f[..., pos, e.feature] = 0.0
    return f


def make_splice_hook(sae, edits: Sequence[Edit] = (), error_term: bool = True, exclude_bos: bool = True):
    """A hook function x -> decode(edit(encode(x))) [+ (x - SAE(x))] [+ strength * unit decoder direction]."""
    edits = list(edits)
    adds = [e for e in edits if e.op == "add"]

    def fn(x: torch.Tensor, hp) -> torch.Tensor:
        if x.shape[-1] != sae.d_in:
            raise MonoscopeError(f"hook {hp.name} has width {x.shape[-1]}, the SAE expects d_in={sae.d_in}")
        xs = x.to(sae.W_dec.dtype)
        f = sae.encode(xs)
        f2 = edit_features(f, edits, exclude_bos)
        out = sae.decode(f2)
        if error_term:
            out = out + (xs - sae.decode(f))
        T = x.shape[-2]
        for e in adds:
            d = sae.W_dec[e.feature]
            out[..., _index(e.positions, T, exclude_bos), :] += e.value * d / d.norm().clamp_min(1e-12)
        if exclude_bos and T > 0:
            out[..., 0, :] = xs[..., 0, :]
        return out.to(x.dtype)

    return fn


def steering(
    model,
    sae,
    edits: Sequence[Edit] = (),
    hook: str | None = None,
    error_term: bool = True,
    max_acts: torch.Tensor | Mapping[int, float] | None = None,
    exclude_bos: bool = True,
):
    """Check and resolve once, for repeated use (e.g. every generation step).

    Returns (a function giving a fresh context manager that attaches the splice, the resolved edits).
    """
    hook = check_splice(model, sae, hook)
    resolved = resolve(edits, sae.d_sae, max_acts)
    fn = make_splice_hook(sae, resolved, error_term, exclude_bos)
    return (lambda: model.hooks([(hook, fn)])), resolved


@contextlib.contextmanager
def steer(
    model,
    sae,
    edits: Sequence[Edit] = (),
    hook: str | None = None,
    error_term: bool = True,
    max_acts: torch.Tensor | Mapping[int, float] | None = None,
    exclude_bos: bool = True,
) -> Iterator[list[Edit]]:
    """Splice `sae` into `model` with `edits` for the duration of the block; yields the resolved edits.

    With `error_term` and no edits the model's output is unchanged (up to float rounding).
    """
    attach, resolved = steering(model, sae, edits, hook, error_term, max_acts, exclude_bos)
    with attach():
        yield resolved


def splice(model, sae, hook: str | None = None, error_term: bool = True):
    """Splice without edits: the SAE's reconstruction (plus the error term if asked) replaces the hook's value."""
    return steer(model, sae, (), hook, error_term)
