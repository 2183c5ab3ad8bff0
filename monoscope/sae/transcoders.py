"""Train one transcoder per MLP of a model: harvest both ends of each MLP into a paired store, train on it.

The CLI does the same in two steps (`harvest --target-hook`, then `train-sae` on that store); this is the one call
benchmarks and tests use to get a replacement model's transcoders.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from monoscope.activations.store import HarvestConfig, harvest
from monoscope.sae.io import load_sae
from monoscope.sae.train import train_sae
from monoscope.sae.trainer import TrainConfig


def train_transcoders(
    model,
    dataset,
    out: Path | str,
    cfg: TrainConfig,
    harvest_tokens: int,
    layers: list[int] | None = None,
    model_name: str = "",
    model_path: str = "",
    progress: bool = True,
) -> list:
    """Transcoders for `layers` (default: all) in out/L<layer>/ (their paired stores in out/acts_L<layer>/).
    `cfg.sae` gives the architecture, width and skip; d_in and d_out are set from the model."""
    out = Path(out)
    made = []
    for layer in range(model.cfg.n_layers) if layers is None else layers:
        mlp = model.mlp_hooks(layer)
        store = harvest(
            model,
            dataset,
            out / f"acts_L{layer}",
            HarvestConfig(hook=mlp.input, target_hook=mlp.out, max_tokens=harvest_tokens, device=cfg.device),
            model_name=model_name,
            model_path=model_path,
            progress=progress,
        )
        d_in, d_out = store.widths
        c = replace(cfg, sae=replace(cfg.sae, d_in=d_in, d_out=d_out), seed=cfg.seed + layer)
        train_sae(store, out / f"L{layer}", c, progress=progress)
        made.append(load_sae(out / f"L{layer}", cfg.device))
    return made
