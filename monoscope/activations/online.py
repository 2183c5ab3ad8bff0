"""On-the-fly activations: vectors straight from the model into training, no store on disk.

One forward pass feeds every requested hook (as sparsify does). Vectors pass
through a mixing buffer per hook, as in SAELens: fill it, shuffle, hand out
half, refill, so one batch mixes many contexts. `view(hook)` looks like an
`ActivationStore` to the trainer (d_in, hook, meta, norm_scale, sample,
iter_batches), so `train_sae` runs on it unchanged; `stream()` yields a dict of
batches, one per hook, for training several SAEs from one pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from monoscope.errors import MonoscopeError
from monoscope.precision import autocast, resolve_dtype


@dataclass
class OnlineConfig:
    hooks: list[str] = field(default_factory=lambda: ["blocks.0.mlp.hook_post"])
    split: str = "train"
    batch_contexts: int = 32
    buffer_vectors: int = 1 << 16  # per hook; half of it is handed out per refill
    exclude_bos: bool = True  # keep only the positions that count (data/positions.py: no BOS, no separator)
    device: str = "cpu"
    dtype: str = "float32"  # forward precision; bf16/fp16 only on CUDA
    norm_samples: int = 8192

    def __post_init__(self):
        if not self.hooks:
            raise MonoscopeError("name at least one hook to read")
        if self.batch_contexts <= 0 or self.buffer_vectors <= 0:
            raise MonoscopeError("batch_contexts and buffer_vectors must be positive")


class OnlineActivations:
    """Reads hooks of a model over a dataset split while training runs."""

    def __init__(self, model, dataset, cfg: OnlineConfig | None = None, model_name: str = "", model_path: str = ""):
        self.model, self.dataset, self.cfg = model, dataset, cfg or OnlineConfig()
        for h in self.cfg.hooks:
            model.check_hook(h)
        split = dataset.split(self.cfg.split)
        if len(split) == 0:
            raise MonoscopeError(f"the {self.cfg.split} split is empty; nothing to read")
        self.tokens = split.tokens
        self.rule = dataset.positions
        self.compute_dtype = resolve_dtype(self.cfg.device, self.cfg.dtype)
        self.model_name, self.model_path = model_name, model_path
        self._d_in: dict[str, int] = {}
        self._scale: dict[str, float] = {}

    # ---- one forward pass --------------------------------------------------
    @torch.no_grad()
    def forward(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Vectors at every hook for the given context rows, BOS positions removed, float32 on the device."""
        t = self.tokens[rows].to(self.cfg.device)
        with autocast(self.cfg.device, self.compute_dtype):
            _, cache = self.model.run_with_cache(t, names=self.cfg.hooks, stop_early=True)
        keep = self.rule.mask(self.tokens[rows]).flatten().to(self.cfg.device) if self.cfg.exclude_bos else None
        out = {}
        for h in self.cfg.hooks:
            a = cache[h]
            if a.dim() != 3:
                raise MonoscopeError(f"hook {h} gives shape {tuple(a.shape)}; expected [batch, position, d]")
            a = a.reshape(-1, a.shape[-1]).float()
            out[h] = a[keep] if keep is not None else a
            self._d_in[h] = a.shape[-1]
        return out

    def d_in(self, hook: str) -> int:
        if hook not in self._d_in:
            self.forward(torch.arange(1))
        return self._d_in[hook]

    def _row_order(self, seed: int) -> Iterator[torch.Tensor]:
        epoch = 0
        while True:
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            perm = torch.randperm(len(self.tokens), generator=g)
            for i in range(0, len(perm), self.cfg.batch_contexts):
                yield perm[i : i + self.cfg.batch_contexts]
            epoch += 1

    def stream(self, batch_size: int, seed: int = 0, start_batch: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Endless shuffled batches {hook: [batch_size, d]}; all hooks see the same tokens in the same order."""
        if batch_size <= 0:
            raise MonoscopeError(f"batch_size must be positive, got {batch_size}")
        cap = max(self.cfg.buffer_vectors, 2 * batch_size)
        rows = self._row_order(seed)
        g = torch.Generator().manual_seed(seed + 17)
        buf: dict[str, torch.Tensor] | None = None
        produced = 0
        while True:
            while buf is None or len(next(iter(buf.values()))) < cap:
                new = self.forward(next(rows))
                buf = new if buf is None else {h: torch.cat([buf[h], new[h]]) for h in new}
            n = len(next(iter(buf.values())))
            perm = torch.randperm(n, generator=g).to(self.cfg.device)
            buf = {h: v[perm] for h, v in buf.items()}
            out_n = (n // 2) // batch_size * batch_size or batch_size
            for i in range(0, out_n, batch_size):
                if produced >= start_batch:
                    yield {h: v[i : i + batch_size] for h, v in buf.items()}
                produced += 1
            buf = {h: v[out_n:] for h, v in buf.items()}

    @torch.no_grad()
    def sample(self, hook: str, n: int, seed: int = 0) -> torch.Tensor:
        """n vectors from randomly chosen contexts (for b_dec init, resampling and the norm estimate)."""
        g = torch.Generator().manual_seed(seed)
        per = max(1, int(self.rule.mask(self.tokens[0]).sum()) if self.cfg.exclude_bos else self.tokens.shape[1])
        k = min(len(self.tokens), math.ceil(n / per))
        rows = torch.randperm(len(self.tokens), generator=g)[:k]
        parts = [
            self.forward(rows[i : i + self.cfg.batch_contexts])[hook] for i in range(0, k, self.cfg.batch_contexts)
        ]
        return torch.cat(parts)[:n]

    def norm_scale(self, hook: str) -> float:
        """SAELens's expected_average_only_in: scale so that E||x|| = sqrt(d_in), from a sample."""
        if hook not in self._scale:
            x = self.sample(hook, self.cfg.norm_samples, seed=12345)
            mean_norm = float(x.norm(dim=1).mean())
            self._scale[hook] = math.sqrt(x.shape[1]) / mean_norm if mean_norm > 0 else 1.0
        return self._scale[hook]

    def meta(self) -> dict:
        dmeta = getattr(self.dataset, "meta", {})
        return {
            "model": self.model_name,
            "model_path": self.model_path,
            "n_ctx": int(self.tokens.shape[1]),
            "exclude_bos": self.cfg.exclude_bos,
            "prepend_bos": bool(dmeta.get("prepend_bos", True)),
            "data": str(Path(self.dataset.folder).resolve()),
            "split": self.cfg.split,
            "online": True,
        }

    def view(self, hook: str) -> OnlineView:
        if hook not in self.cfg.hooks:
            raise MonoscopeError(f"hook {hook} is not read by this source; it reads {', '.join(self.cfg.hooks)}")
        return OnlineView(self, hook)


class OnlineView:
    """One hook of an online source, shaped like an ActivationStore for `train_sae`."""

    def __init__(self, source: OnlineActivations, hook: str):
        self.source, self.hook = source, hook
        self.folder = Path(source.dataset.folder)
        self.meta = {**source.meta(), "hook": hook}

    @property
    def d_in(self) -> int:
        return self.source.d_in(self.hook)

    @property
    def norm_scale(self) -> float:
        return self.source.norm_scale(self.hook)

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        return self.source.sample(self.hook, n, seed)

    def iter_batches(self, batch_size: int, seed: int = 0, start_batch: int = 0, **_) -> Iterator[torch.Tensor]:
        for b in self.source.stream(batch_size, seed, start_batch):
            yield b[self.hook]
