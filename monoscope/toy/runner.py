"""Run one toy experiment into a folder: figures, a JSON of its numbers, and the stage stamp."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from monoscope.errors import MonoscopeError
from monoscope.io import read_json, write_json
from monoscope.stages import finish_stage, open_stage

EXPERIMENTS = ("geometry", "importance", "phase", "dimensionality", "jl", "compressed-sensing", "recovery")


def experiments() -> dict[str, tuple[type, Any]]:
    """Experiment name -> (config dataclass, run function)."""
    from monoscope.toy import compressed_sensing, dimensionality, geometry, importance, jl, phase, recovery

    return {
        "geometry": (geometry.GeometryConfig, geometry.run),
        "importance": (importance.ImportanceConfig, importance.run),
        "phase": (phase.PhaseConfig, phase.run),
        "dimensionality": (dimensionality.DimensionalityConfig, dimensionality.run),
        "jl": (jl.JLConfig, jl.run),
        "compressed-sensing": (compressed_sensing.CSConfig, compressed_sensing.run),
        "recovery": (recovery.RecoveryConfig, recovery.run),
    }


def make_config(name: str, **overrides: Any):
    """The experiment's config with `overrides` (None = keep the default); names it does not take are an error."""
    if name not in EXPERIMENTS:
        raise MonoscopeError(f"unknown toy experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    cls = experiments()[name][0]
    names = {f.name for f in fields(cls)}
    extra = sorted(k for k, v in overrides.items() if v is not None and k not in names)
    if extra:
        raise MonoscopeError(f"toy {name} does not take {', '.join(extra)}; it takes {', '.join(sorted(names))}")
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if v is not None})


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Toy tensors are small: on a busy machine one thread beats several that wait on each other."""
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def toy_folder(name: str, out: Path | str | None = None) -> Path:
    """Where toy experiment `name` writes: `out`, or runs/toy/NAME."""
    return Path(out) if out is not None else Path("runs/toy") / name


def run_experiment(
    name: str,
    out: Path | str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    threads: int | None = 1,
    **overrides: Any,
) -> dict:
    """Run toy experiment `name` into `out` (default runs/toy/NAME); returns its numbers (also in NAME.json).

    A folder already holding this experiment with the same config is reused; another config is
    refused unless `overwrite`.
    """
    cfg = make_config(name, **overrides)
    out = toy_folder(name, out)
    stem = name.replace("-", "_")
    cfg_dict = asdict(cfg)
    if open_stage(out, f"toy {name}", cfg_dict, overwrite):
        return read_json(out / f"{stem}.json", f"toy {name} results")
    t0 = time.perf_counter()
    with torch_threads(threads):
        numbers = experiments()[name][1](cfg, out, progress)
    result = {"experiment": name, "config": cfg_dict, "seconds": round(time.perf_counter() - t0, 2), **numbers}
    write_json(out / f"{stem}.json", result)
    finish_stage(out)
    return result
