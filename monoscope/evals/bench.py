"""`bench-sae`: every quality metric for several SAEs of one hook and model, side by side.

Why one place: metrics compared across SAEs are only comparable on the same
model, hook and tokens, so the SAEs are checked to share them (refused naming
the one that differs) and every metric reads the same collected tokens.
Per SAE: the core metrics (evals/metrics.py), absorption (evals/absorption.py),
sparse probing (evals/sparse_probing.py); per pair: stability (evals/stability.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monoscope.errors import MonoscopeError
from monoscope.evals.absorption import AbsorptionConfig, AbsorptionSkipped, run_absorption
from monoscope.evals.metrics import EvalConfig, evaluate
from monoscope.evals.sparse_probing import SparseProbingConfig, sparse_probing
from monoscope.evals.stability import stability


@dataclass
class BenchConfig:
    eval_contexts: int = 64
    probe_contexts: int = 256
    contexts: list[str] = field(default_factory=list)  # user NAME=REGEX tasks
    model: str | None = None  # subject model folder for SAEs that do not sit in a run folder
    data: str | None = None
    absorption: AbsorptionConfig = field(default_factory=AbsorptionConfig)
    probing: SparseProbingConfig = field(default_factory=SparseProbingConfig)
    device: str = "cpu"


def check_same_site(runs: list) -> None:
    """Every SAE on the first one's hook and model, with its input width."""
    first = runs[0]
    for r in runs[1:]:
        if r.hook != first.hook:
            raise MonoscopeError(
                f"{r.sae_folder} is on hook {r.hook} but {first.sae_folder} on {first.hook}: compare SAEs of one hook"
            )
        if r.model_folder.resolve() != first.model_folder.resolve():
            raise MonoscopeError(
                f"{r.sae_folder} is on model {r.model_folder} but {first.sae_folder} on {first.model_folder}: "
                "compare SAEs of one model"
            )
        if r.sae.d_in != first.sae.d_in:
            raise MonoscopeError(f"{r.sae_folder} reads d_in {r.sae.d_in}, {first.sae_folder} {first.sae.d_in}")


def _tasks(run, acts, user: list[str]):
    from monoscope.features.contexts import default_contexts, parse_context_spec

    domains = sorted(set(acts.table.domain.tolist()))
    return default_contexts(domains, run.dataset.meta.get("contexts")) + [parse_context_spec(s) for s in user]


def probe_rows(n_rows: int, n: int) -> np.ndarray:
    """The validation contexts sparse probing reads: `n` spread evenly over the split, not its first `n`.

    Why: the built-in corpus packs documents of one script together (the demo's
    Greek sits in rows 360..2047 of 2056, none in the first 256), so the first
    `n` rows would report whole contexts as too small although the split holds
    thousands of their tokens.
    """
    from monoscope.features.context_goal import spread_rows

    return spread_rows(np.arange(n_rows), n)


def bench_saes(paths: list[Path | str], cfg: BenchConfig | None = None, progress: bool = False) -> dict:
    from monoscope.features.hypotheses import collect
    from monoscope.run_folder import load_run

    cfg = cfg or BenchConfig()
    if not paths:
        raise MonoscopeError("bench-sae needs at least one --sae")
    runs = [load_run(p, cfg.model, cfg.data, device=cfg.device) for p in paths]
    check_same_site(runs)
    names = [str(r.sae_folder) for r in runs]
    if len(set(names)) != len(names):
        raise MonoscopeError("the same SAE was given twice")
    base = runs[0]
    val = base.dataset.split("val").tokens
    acts = collect(
        base.model,
        [r.sae for r in runs],
        base.dataset,
        base.hook,
        rows=probe_rows(len(val), cfg.probe_contexts),
        progress=progress,
    )
    tasks = _tasks(base, acts, cfg.contexts)
    probing = sparse_probing(acts, tasks, cfg.probing)
    out = {"hook": base.hook, "model": str(base.model_folder), "saes": {}, "stability": []}
    for r, probe in zip(runs, probing, strict=True):
        core = evaluate(
            r.model,
            r.sae,
            val,
            r.hook,
            EvalConfig(n_contexts=cfg.eval_contexts, device=cfg.device),
            r.dataset.positions,
            progress=progress,
        )
        core.pop("log10_density", None)
        try:
            absorption = run_absorption(r, cfg.absorption)
        except AbsorptionSkipped as e:
            absorption = {"skipped": str(e), "hook": r.hook, **e.details}
        out["saes"][str(r.sae_folder)] = {
            "architecture": r.sae.cfg.architecture,
            "d_sae": r.sae.d_sae,
            "core": core,
            "absorption": absorption,
            "sparse_probing": probe,
        }
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            s = stability(runs[i].sae, runs[j].sae)
            s.pop("best_cos_a_in_b")
            out["stability"].append({"a": names[i], "b": names[j], **s})
    return out


def write_bench(result: dict, out: Path | str) -> list[Path]:
    """bench_sae.json and one PNG per metric in `out`; the paths written, the JSON last."""
    from monoscope.io import write_json
    from monoscope.plots import bench_bars

    out = Path(out)
    write_json(out / "bench_sae.json", result)
    return [*bench_bars(result, out), out / "bench_sae.json"]


def bench_sweep(sweep_folder: Path | str, cfg: BenchConfig | None = None, progress: bool = False) -> dict:
    """bench-sae on every SAE a sweep trained (its sweep.json), into SWEEP/bench; the model and data default to
    the paths the SAEs' metadata names (the store's), as the sweep's frontier does."""
    from monoscope.io import read_json

    cfg = cfg or BenchConfig()
    sweep_folder = Path(sweep_folder)
    info = read_json(sweep_folder / "sweep.json", "sweep summary")
    folders = [Path(v["folder"]) for v in info["saes"].values()]
    meta = read_json(folders[0] / "cfg.json", "SAE cfg.json").get("metadata") or {}
    model, data = cfg.model or meta.get("model_path"), cfg.data or meta.get("dataset_path")
    for what, path, flag in (("subject model", model, "--model"), ("dataset", data, "--data")):
        if not path or not Path(path).exists():
            raise MonoscopeError(
                f"cannot find the {what} for sweep {sweep_folder} (metadata names {path!r}); pass {flag}"
            )
    cfg = BenchConfig(**{**cfg.__dict__, "model": str(model), "data": str(data)})
    result = bench_saes(folders, cfg, progress=progress)
    write_bench(result, sweep_folder / "bench")
    return result
