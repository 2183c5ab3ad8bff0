"""Named hook points, as in TransformerLens: reading and editing activations are one mechanism.

Every activation of a subject model passes through a `HookPoint`. A hook is a
function `fn(value, hook) -> value | None`; returning a tensor replaces the
value. `run_with_cache` reads, `run_with_hooks` edits, and both stop the
forward pass early when nothing downstream is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from monoscope.errors import MonoscopeError

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
