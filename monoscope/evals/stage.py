"""The eval stage: an SAE evaluated on a dataset's validation split, written into a folder and reused."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from monoscope.evals.metrics import EvalConfig, evaluate
from monoscope.io import read_json, write_json
from monoscope.plots import density_histogram
from monoscope.stages import finish_stage, open_stage


def run_eval(
    model, sae, ds, out: Path, cfg: EvalConfig, overwrite: bool = False, progress: bool = True, sae_folder=None
) -> dict:
    """evaluate() on `ds`'s validation split into `out`/eval.json and density.png; reused when unchanged."""
    stage = {**asdict(cfg), "sae": str(sae_folder or Path(out).parent / "sae")}
    stage.pop("device")
    if open_stage(out, "eval", stage, overwrite):
        return read_json(out / "eval.json")
    r = evaluate(model, sae, ds.split("val").tokens, cfg=cfg, positions=ds.positions, progress=progress)
    write_json(out / "eval.json", r)
    density_histogram(r["log10_density"], out / "density.png", f"{sae.architecture} SAE, {sae.d_sae} features")
    finish_stage(out)
    return r
