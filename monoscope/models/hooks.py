"""Named hook points, as in TransformerLens: reading and editing activations are one mechanism.

Every activation of a subject model passes through a `HookPoint`. A hook is a
function `fn(value, hook) -> value | None`; returning a tensor replaces the
value. `run_with_cache` reads, `run_with_hooks` edits, and both stop the
forward pass early when nothing downstream is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from monoscope.errors import MonoscopeError
from monoscope.models.hook_names import HookInfo, MLPHooks, hook_name, parse_hook

HookFn = Callable[[torch.Tensor, "HookPoint"], "torch.Tensor | None"]


class HookPoint(nn.Module):
    """Identity module with a name; the functions attached to it see and may replace its value."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""
        self.fns: list[HookFn] = []

    @property
    def active(self) -> bool:
        return bool(self.fns)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            out = fn(x, self)
            if out is not None:
                if out.shape != x.shape:
                    raise MonoscopeError(
                        f"hook on {self.name} returned shape {tuple(out.shape)}, expected {tuple(x.shape)}"
                    )
                x = out
        return x


class _StopForward(Exception):
    pass


@dataclass(frozen=True)
class ResidualPath:
    """x at a hook reaches the residual stream as x @ W + b (W None: x is already there) at hook `out`."""

    W: torch.Tensor | None  # [d_in, d_model]
    b: torch.Tensor | None  # [d_model]
    out: str  # the hook holding the written value (the layer's output)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The residual-stream vector of x, without the bias."""
        return x if self.W is None else x @ self.W


class HookedModel(nn.Module):
    """Base for subject models: names every HookPoint after its module path."""

    def setup_hooks(self) -> None:
        self._hooks: dict[str, HookPoint] = {}
        for name, mod in self.named_modules():
            if isinstance(mod, HookPoint):
                mod.name = name
                self._hooks[name] = mod

    @property
    def hook_dict(self) -> dict[str, HookPoint]:
        return self._hooks

    def hook_names(self) -> list[str]:
        return list(self._hooks)

    def check_hook(self, name: str) -> HookPoint:
        if name not in self._hooks:
            raise MonoscopeError(f"unknown hook point {name!r}; valid hook points: {', '.join(self._hooks)}")
        return self._hooks[name]

    # ---- what the hooks mean (names: hook_names.py; weights: each model) ---------------------------
    def hook_info(self, name: str) -> HookInfo:
        """(layer, kind) of one of this model's hooks; an unknown name is refused with the valid ones."""
        self.check_hook(name)
        return parse_hook(name)

    @property
    def final_resid_hook(self) -> str:
        """The residual stream after the last block: what the final norm and the unembedding read."""
        return hook_name("resid_post", self.cfg.n_layers - 1)

    @property
    def unembed(self):
        """The final norm and unembedding (`models.unembed.Unembed`), or None for a model without next-token logits
        over a vocabulary (an encoder): logit effects and attribution are then skipped."""
        return None

    @property
    def token_embedding(self) -> torch.Tensor | None:
        """The token embedding table [vocab, d_model] whose rows `hook_embed` carries, or None."""
        return None

    def mlp_hooks(self, layer: int) -> MLPHooks:
        """The hooks of layer `layer`'s MLP; a clear error where this model does not map them."""
        if not 0 <= int(layer) < self.cfg.n_layers:
            raise MonoscopeError(f"layer {layer} is out of range; the model has layers 0..{self.cfg.n_layers - 1}")
        names = {k: hook_name(k, layer) for k in ("mlp_in", "mlp_pre", "mlp_post", "mlp_out")}
        missing = [n for k, n in names.items() if k != "mlp_pre" and n not in self._hooks]
        if missing:
            mapped = [n for n in self._hooks if parse_hook(n).in_mlp]
            raise MonoscopeError(
                f"this model does not map {', '.join(missing)}; its MLP hooks are: {', '.join(mapped) or 'none'}"
            )
        pre = names["mlp_pre"] if names["mlp_pre"] in self._hooks else None
        return MLPHooks(int(layer), names["mlp_in"], pre, names["mlp_post"], names["mlp_out"])

    def mlp_output_weights(self, layer: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(W [d_mlp, d_model], b [d_model] or None): the linear map from `mlp.hook_post` to `hook_mlp_out`."""
        raise MonoscopeError(f"{type(self).__name__} does not expose its MLP output weights")

    def residual_path(self, hook: str) -> ResidualPath | None:
        """How a vector at `hook` reaches the residual stream linearly: through the MLP's output map for
        `mlp.hook_post`, as it is for residual-stream hooks; None where there is no linear path."""
        info = self.hook_info(hook)
        if info.kind == "mlp_post":
            W, b = self.mlp_output_weights(info.layer)
            return ResidualPath(W, b, self.mlp_hooks(info.layer).out)
        if info.in_residual:
            return ResidualPath(None, None, hook)
        return None

    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Iterable[tuple[str, HookFn]]):
        """Attach hooks for the duration of the block; they are removed even on error."""
        added: list[tuple[HookPoint, HookFn]] = []
        try:
            for name, fn in fwd_hooks:
                hp = self.check_hook(name)
                hp.fns.append(fn)
                added.append((hp, fn))
            yield self
        finally:
            for hp, fn in added:
                hp.fns.remove(fn)

    def run_with_hooks(self, tokens: torch.Tensor, fwd_hooks: Sequence[tuple[str, HookFn]] = (), **kw) -> torch.Tensor:
        with self.hooks(fwd_hooks):
            return self(tokens, **kw)

    def run_with_cache(
        self,
        tokens: torch.Tensor,
        names: Sequence[str] | None = None,
        stop_early: bool = False,
        fwd_hooks: Sequence[tuple[str, HookFn]] = (),
        **kw,
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Run and cache the named activations (all when `names` is None).

        With `stop_early`, the forward pass ends right after the last requested
        hook and the logits returned are None: harvesting pays only for what it reads.
        """
        names = list(self._hooks) if names is None else list(names)
        for n in names:
            self.check_hook(n)
        cache: dict[str, torch.Tensor] = {}
        wanted = set(names)

        def make(name):
            def save(x, hook):
                cache[name] = x.detach()
                if stop_early and len(cache) == len(wanted):
                    raise _StopForward

            return save

        hooks = list(fwd_hooks) + [(n, make(n)) for n in dict.fromkeys(names)]
        with self.hooks(hooks):
            try:
                logits = self(tokens, **kw)
            except _StopForward:
                logits = None
        return logits, cache
