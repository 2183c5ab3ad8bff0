"""Evaluate every SAE of a sweep with the same contexts: the points of the sparsity/fidelity frontier."""

from __future__ import annotations

from pathlib import Path

from monoscope.errors import MonoscopeError
from monoscope.evals.metrics import EvalConfig, evaluate
from monoscope.io import read_json

KEEP = ("l0", "fvu", "mse", "loss_recovered", "kl_recovered", "dead_fraction", "dense_fraction", "ce_spliced")


def evaluate_sweep(
    sweep_folder: Path | str, model, tokens, cfg: EvalConfig, positions=None, progress: bool = True
) -> list[dict]:
    """One row per SAE in sweep.json: architecture, d_sae, k, λ and the metrics of monoscope.evals.evaluate."""
    from monoscope.sae.io import load_sae

    sweep_folder = Path(sweep_folder)
    info = read_json(sweep_folder / "sweep.json", "sweep summary")
    rows = []
    for name, s in info["saes"].items():
        sae = load_sae(sweep_folder / name, cfg.device)
        r = evaluate(model, sae, tokens, cfg=cfg, positions=positions, progress=progress)
        rows.append(
            {
                "name": name,
                "architecture": s["architecture"],
                "d_sae": s["d_sae"],
                "k": s.get("k"),
                "sparsity_coef": s.get("sparsity_coef"),
                **{k: r[k] for k in KEEP},
            }
        )
    if not rows:
        raise MonoscopeError(f"{sweep_folder}/sweep.json lists no SAEs")
    return rows
