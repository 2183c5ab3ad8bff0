"""The frontier of a sweep: every SAE evaluated with the same contexts (the points of the sparsity/fidelity
frontier), written as frontier.json + frontier.png beside sweep.json.

The model and dataset are found through the activation store's metadata
(recorded in each SAE's metadata) unless given.
"""

from __future__ import annotations

from pathlib import Path

from monoscope.data.dataset import Dataset
from monoscope.errors import MonoscopeError
from monoscope.evals.metrics import EvalConfig, evaluate
from monoscope.io import read_json, write_json
from monoscope.models import load_model
from monoscope.plots import frontier as frontier_plot

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


def run_frontier(
    sweep_folder: Path | str,
    model: Path | str | None = None,
    data: Path | str | None = None,
    cfg: EvalConfig | None = None,
    progress: bool = True,
) -> dict:
    sweep_folder = Path(sweep_folder)
    cfg = cfg or EvalConfig()
    info = read_json(sweep_folder / "sweep.json", "sweep summary")
    first = read_json(Path(next(iter(info["saes"].values()))["folder"]) / "cfg.json", "SAE cfg.json")
    meta = first.get("metadata") or {}
    mdir, ddir = model or meta.get("model_path"), data or meta.get("dataset_path")
    if not mdir or not Path(mdir).exists():
        raise MonoscopeError(
            f"cannot find the subject model for sweep {sweep_folder} (store metadata names {mdir!r}); pass --model"
        )
    if not ddir or not Path(ddir).exists():
        raise MonoscopeError(
            f"cannot find the dataset for sweep {sweep_folder} (store metadata names {ddir!r}); pass --data"
        )
    m = load_model(mdir, cfg.device)
    ds = Dataset(ddir)
    rows = evaluate_sweep(sweep_folder, m, ds.split("val").tokens, cfg, positions=ds.positions, progress=progress)
    result = {"n_contexts": cfg.n_contexts, "model": str(mdir), "data": str(ddir), "rows": rows}
    write_json(sweep_folder / "frontier.json", result)
    frontier_plot(rows, sweep_folder / "frontier.png", f"frontier of {sweep_folder.name}")
    return result
