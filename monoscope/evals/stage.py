"""The eval stage: SAEs evaluated on a dataset's validation split, each written into its folder and reused."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from monoscope.evals.metrics import EvalConfig, evaluate_many
from monoscope.io import read_json, write_json
from monoscope.plots import density_histogram
from monoscope.stages import finish_stage, open_stage


def _stage(cfg: EvalConfig, out: Path, sae_folder) -> dict:
    stage = {**asdict(cfg), "sae": str(sae_folder or Path(out).parent / "sae")}
    stage.pop("device")
    return stage


def run_evals(
    model, saes: list, ds, outs: list[Path], cfg: EvalConfig, overwrite=False, progress=True, sae_folders=None
):
    """evaluate_many() on `ds`'s validation split: SAE i into outs[i]/eval.json and density.png, reused when
    unchanged; the SAEs still to evaluate share one pass over the tokens."""
    sae_folders = sae_folders or [None] * len(saes)
    results: list[dict | None] = [None] * len(saes)
    todo = []
    for i, (out, folder) in enumerate(zip(outs, sae_folders)):
        if open_stage(out, "eval", _stage(cfg, out, folder), overwrite):
            results[i] = read_json(Path(out) / "eval.json")
        else:
            todo.append(i)
    if todo:
        new = evaluate_many(
            model, [saes[i] for i in todo], ds.split("val").tokens, cfg=cfg, positions=ds.positions, progress=progress
        )
        for i, r in zip(todo, new):
            out, sae = Path(outs[i]), saes[i]
            write_json(out / "eval.json", r)
            density_histogram(r["log10_density"], out / "density.png", f"{sae.architecture} SAE, {sae.d_sae} features")
            finish_stage(out)
            results[i] = r
    return results


def run_eval(model, sae, ds, out: Path, cfg: EvalConfig, overwrite=False, progress=True, sae_folder=None) -> dict:
    """evaluate() on `ds`'s validation split into `out`/eval.json and density.png; reused when unchanged."""
    return run_evals(model, [sae], ds, [out], cfg, overwrite, progress, [sae_folder])[0]
