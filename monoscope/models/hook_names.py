"""The one place that knows what a hook name means: which layer, which kind of value, where it lives.

Names follow TransformerLens (`hook_embed`, `blocks.{L}.hook_resid_pre`,
`blocks.{L}.mlp.hook_post`, ...). Everything else asks here instead of
matching strings: whether a hook's value is a vector of the residual stream,
which hooks belong to a layer's MLP, how to build a name from (kind, layer).
`blocks.{L}.mlp.hook_in` is what the MLP reads (its normalised input, as
circuit-tracer names it); `blocks.{L}.hook_mlp_out` is what it writes. A
name this map does not know (a module hook added by path) parses as kind
"other": it is valid to read and edit, it just has no known place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind -> name, for hooks inside block L ("{L}" is filled in) and for hooks outside the blocks
LAYER_HOOKS = {
    "resid_pre": "blocks.{L}.hook_resid_pre",
    "attn_out": "blocks.{L}.hook_attn_out",
    "resid_mid": "blocks.{L}.hook_resid_mid",
    "mlp_in": "blocks.{L}.mlp.hook_in",
    "mlp_pre": "blocks.{L}.mlp.hook_pre",
    "mlp_post": "blocks.{L}.mlp.hook_post",
    "mlp_out": "blocks.{L}.hook_mlp_out",
    "resid_post": "blocks.{L}.hook_resid_post",
    "attn_q": "blocks.{L}.attn.hook_q",
    "attn_k": "blocks.{L}.attn.hook_k",
    "attn_v": "blocks.{L}.attn.hook_v",
    "attn_pattern": "blocks.{L}.attn.hook_pattern",
    "attn_z": "blocks.{L}.attn.hook_z",
    "ln1_scale": "blocks.{L}.ln1.hook_scale",
    "ln1_normalized": "blocks.{L}.ln1.hook_normalized",
    "ln2_scale": "blocks.{L}.ln2.hook_scale",
    "ln2_normalized": "blocks.{L}.ln2.hook_normalized",
}
MODEL_HOOKS = {
    "tokens": "hook_tokens",  # the token ids themselves [batch, position]: what a splice's position rule reads
    "embed": "hook_embed",
    "pos_embed": "hook_pos_embed",
    "final_scale": "ln_final.hook_scale",
    "final_normalized": "ln_final.hook_normalized",
}
# values that are vectors of the residual stream (d_model), written into it linearly
RESIDUAL_KINDS = frozenset({"embed", "pos_embed", "resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"})
MLP_KINDS = frozenset({"mlp_in", "mlp_pre", "mlp_post", "mlp_out"})

_BY_SUFFIX = {v.split("{L}.", 1)[1]: k for k, v in LAYER_HOOKS.items()}
_BY_NAME = {v: k for k, v in MODEL_HOOKS.items()}
_LAYER = re.compile(r"blocks\.(\d+)\.(.+)")


@dataclass(frozen=True)
class HookInfo:
    """What a hook name says: `layer` (None outside the blocks) and `kind` (a key of LAYER_HOOKS or MODEL_HOOKS,
    or "other")."""

    name: str
    layer: int | None
    kind: str

    @property
    def in_residual(self) -> bool:
        """Its value is a residual-stream vector (embeddings, resid_*, attn_out, mlp_out)."""
        return self.kind in RESIDUAL_KINDS

    @property
    def in_mlp(self) -> bool:
        return self.kind in MLP_KINDS


def parse_hook(name: str) -> HookInfo:
    """(layer, kind) of a hook name; kind "other" for a name this map does not know."""
    if name in _BY_NAME:
        return HookInfo(name, None, _BY_NAME[name])
    m = _LAYER.fullmatch(name)
    if m and m.group(2) in _BY_SUFFIX:
        return HookInfo(name, int(m.group(1)), _BY_SUFFIX[m.group(2)])
    return HookInfo(name, None, "other")


def hook_name(kind: str, layer: int | None = None) -> str:
    """The name of a hook of `kind` (in block `layer` for the per-layer kinds)."""
    if kind in MODEL_HOOKS:
        return MODEL_HOOKS[kind]
    if kind not in LAYER_HOOKS:
        raise KeyError(f"unknown hook kind {kind!r}; known: {', '.join([*MODEL_HOOKS, *LAYER_HOOKS])}")
    if layer is None:
        raise ValueError(f"hook kind {kind!r} lives in a block; give its layer")
    return LAYER_HOOKS[kind].format(L=int(layer))


@dataclass(frozen=True)
class MLPHooks:
    """The hooks of one layer's MLP: what it reads (`input`, the normalised residual), its neurons before and after
    the nonlinearity (`pre` is None where the model has no single pre-activation, e.g. gated MLPs), what it writes
    (`out`)."""

    layer: int
    input: str
    pre: str | None
    post: str
    out: str
