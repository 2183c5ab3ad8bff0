"""Splice an SAE into its subject model: the one mechanism evals, feature analysis and steering all use.

At the hook, x is replaced by the SAE's view of it, with features edited on
the way (`edit(f) -> f'`). Without the error term the model sees the bare
reconstruction decode(f'); with it, the residual x - SAE(x) is kept, so the
model sees x + (f' - f) @ W_dec: exactly x wherever no feature was changed
(the SAELens layout decodes linearly, so this is decode(f') + x - decode(f)).
Only positions that count are touched (`data.positions`: never the BOS a
context starts with, nor a BOS or separator token); the splice reads them
from the tokens of each forward pass through the model's `hook_tokens`, so
generation, batches and prompts all follow the same rule.

    with model.hooks(splice_hooks(sae, hook, dataset.positions, error_term=False)):
        logits = model(tokens)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError

FeatureEdit = Callable[[torch.Tensor], torch.Tensor]  # f [B, T, d_sae] -> f' (a new tensor)


def hook_width(model, hook: str) -> int:
    """Width of a hook's value, measured with a one-token forward that stops at the hook."""
    model.check_hook(hook)
    p = next(model.parameters(), None)
    dev = p.device if p is not None else "cpu"
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.zeros(1, 1, dtype=torch.long, device=dev), names=[hook], stop_early=True)
    return int(cache[hook].shape[-1])


def check_splice(model, sae, hook: str | None = None) -> str:
    """The hook the SAE reads (default: its metadata.hook_name), checked against the model's hooks and width and
    against the hook the SAE was trained on."""
    trained = sae.cfg.metadata.get("hook_name")
    hook = hook or trained
    if not hook:
        raise MonoscopeError("the SAE's metadata names no hook_name; pass the hook to splice at (--hook)")
    model.check_hook(hook)
    if trained and trained != hook:
        raise MonoscopeError(f"the SAE was trained on {trained}, not {hook}")
    width = hook_width(model, hook)
    if width != sae.d_in:
        raise MonoscopeError(
            f"the SAE reads d_in={sae.d_in} but hook {hook} of this model has width {width}; "
            "the SAE was trained on another model or hook"
        )
    return hook


def _changed(f: torch.Tensor, f2: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    """(f2 - f) @ W_dec, through the changed entries only when they are few (an edit touches a feature or two)."""
    d = (f2 - f).reshape(-1, f.shape[-1])
    rows, cols = d.nonzero(as_tuple=True)
    if len(rows) * 8 > d.numel():
        return (d @ W_dec).reshape(*f.shape[:-1], -1)
    out = torch.zeros(d.shape[0], W_dec.shape[1], dtype=W_dec.dtype, device=W_dec.device)
    out.index_add_(0, rows, d[rows, cols, None] * W_dec[cols])
    return out.reshape(*f.shape[:-1], -1)


def splice_hooks(
    sae,
    hook: str,
    positions: Positions | int | None = None,
    edit: FeatureEdit | None = None,
    error_term: bool = True,
    observe: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
) -> list[tuple[str, Callable]]:
    """Hooks for `model.hooks(...)`: `hook_tokens` reads which positions count, `hook` replaces its value there.

    `positions`: the rule (a Dataset's `.positions`; a BOS id; None: position 0 only). With `error_term` and no
    `edit` the model's output is unchanged. `observe(x, f, out)` sees the hook's value, its features and what it
    becomes at counted positions (evals measure the reconstruction the model was given).
    """
    rule = Positions.of(positions)
    state: dict[str, torch.Tensor] = {}

    def read_tokens(t: torch.Tensor, hp) -> None:
        state["keep"] = rule.mask(t)

    def replace(x: torch.Tensor, hp) -> torch.Tensor:
        if x.shape[-1] != sae.d_in:
            raise MonoscopeError(f"hook {hp.name} has width {x.shape[-1]}, the SAE expects d_in={sae.d_in}")
        if error_term and edit is None and observe is None:
            return x
        keep = state["keep"].to(x.device)[..., None]
        xs = x.to(sae.W_dec.dtype)
        f = sae.encode(xs)
        f2 = edit(f) if edit is not None else f
        out = xs + _changed(f, f2, sae.W_dec) if error_term else sae.decode(f2)
        if observe is not None:
            observe(xs, f, out)
        return torch.where(keep, out, xs).to(x.dtype)

    return [("hook_tokens", read_tokens), (hook, replace)]


def check_transcoder(model, tc, model_name: str | None = None) -> tuple[str, str]:
    """(input hook, output hook) of a transcoder, checked against this model: both hooks exist, are the two ends of
    one layer's MLP, and have the transcoder's widths; a transcoder stamped with another model's name is refused."""
    meta = tc.cfg.metadata
    if not tc.cfg.is_transcoder:
        raise MonoscopeError("this dictionary is an SAE, not a transcoder (its cfg.json has no d_out)")
    inp, out = meta.get("hook_name"), meta.get("hook_name_out")
    if not inp or not out:
        raise MonoscopeError("the transcoder's metadata lacks hook_name / hook_name_out (which MLP it replaces)")
    trained_on = meta.get("model_name")
    if model_name and trained_on and trained_on != model_name:
        raise MonoscopeError(f"the transcoder was trained on model {trained_on!r}, not {model_name!r}")
    layer = model.hook_info(inp).layer
    mlp = model.mlp_hooks(layer) if layer is not None else None
    if mlp is None or (inp, out) != (mlp.input, mlp.out):
        raise MonoscopeError(
            f"the transcoder maps {inp} -> {out}; a transcoder maps one layer's mlp.hook_in -> hook_mlp_out"
        )
    for h, w in ((inp, tc.d_in), (out, tc.d_out)):
        if hook_width(model, h) != w:
            raise MonoscopeError(
                f"the transcoder expects width {w} at {h}, this model has {hook_width(model, h)}: "
                "it was trained on another model"
            )
    return inp, out


def transcoder_hooks(
    transcoders, positions: Positions | int | None = None, observe: Callable | None = None
) -> list[tuple[str, Callable]]:
    """Hooks replacing every listed MLP by its transcoder: `hook_mlp_out` becomes tc(mlp.hook_in) at positions that
    count (the others keep the MLP's output). `observe(layer_index, x, f, y, y_hat)` sees each replacement."""
    rule = Positions.of(positions)
    state: dict = {}

    def read_tokens(t: torch.Tensor, hp) -> None:
        state["keep"] = rule.mask(t)

    hooks: list[tuple[str, Callable]] = [("hook_tokens", read_tokens)]
    for i, tc in enumerate(transcoders):
        inp, out = tc.cfg.metadata["hook_name"], tc.cfg.metadata["hook_name_out"]

        def read(x, hp, inp=inp) -> None:
            state[inp] = x

        def write(y, hp, tc=tc, inp=inp, i=i) -> torch.Tensor:
            x = state[inp].to(tc.W_dec.dtype)
            f = tc.encode(x)
            y_hat = tc.decode(f)
            s = tc.skip_out(x)
            y_hat = y_hat if s is None else y_hat + s
            if observe is not None:
                observe(i, x, f, y, y_hat)
            return torch.where(state["keep"].to(y.device)[..., None], y_hat.to(y.dtype), y)

        hooks += [(inp, read), (out, write)]
    return hooks
