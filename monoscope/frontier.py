"""The frontier of a sweep: evaluate each SAE on the subject model and write frontier.json + frontier.png.

The model and dataset are found through the activation store's metadata
(recorded in each SAE's metadata) unless given.
"""

from __future__ import annotations

from pathlib import Path

from monoscope.data.dataset import Dataset
from monoscope.errors import MonoscopeError
from monoscope.evals import EvalConfig
from monoscope.evals.frontier import evaluate_sweep
from monoscope.io import read_json, write_json
from monoscope.models import load_model
from monoscope.plots import frontier as frontier_plot


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
