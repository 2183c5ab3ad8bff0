"""Sweeps: many SAEs (architectures, sizes, k or λ) trained in one pass over the activation stream.

A sweep file (YAML or TOML) holds shared settings and a list of SAE entries;
a list value in an entry expands into a grid:

    vectors: 1000000
    batch_size: 4096
    seed: 0
    train: {lr: 0.002}                      # shared TrainConfig fields
    saes:
      - {arch: topk, d_sae: 4096, k: [8, 16, 32]}
      - {arch: relu, d_sae: 4096, sparsity_coef: [2, 5, 10]}

Each SAE gets its own sub-folder in the SAELens layout; one checkpoint file
holds all of them, so a killed sweep resumes every SAE at the same batch.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import fields
from pathlib import Path

import tomllib
import yaml

from monoscope.errors import MonoscopeError
from monoscope.io import write_json
from monoscope.sae.base import ARCHITECTURES, SAEConfig
from monoscope.sae.checkpoint import CHECKPOINT, refuse_other_config
from monoscope.sae.io import load_sae
from monoscope.sae.loop import run_trainers
from monoscope.sae.train import check_d_in, finish_sae, make_trainer, store_source
from monoscope.sae.trainer import TrainConfig, stage_config
from monoscope.stages import finish_stage, open_stage

SAE_KEYS = {
    "arch": "architecture",
    "architecture": "architecture",
    "d_sae": "d_sae",
    "k": "k",
    "jumprelu_bandwidth": "jumprelu_bandwidth",
    "jumprelu_init_threshold": "jumprelu_init_threshold",
    "matryoshka_widths": "matryoshka_widths",
}
SHARED = ("total_vectors", "batch_size", "seed", "device", "checkpoint_every", "normalize_activations")


def read_sweep_file(path: Path | str) -> dict:
    path = Path(path)
    if not path.exists():
        raise MonoscopeError(f"sweep file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise MonoscopeError(
            f"sweep file {path} is not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {str(e).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("saes"), list) or not data["saes"]:
        raise MonoscopeError(f"sweep file {path} needs a non-empty list `saes:` of SAE entries")
    return data


def _name(c: TrainConfig) -> str:
    s = c.sae
    parts = [s.architecture, str(s.d_sae)]
    if s.k is not None:
        parts.append(f"k{s.k}")
    if ARCHITECTURES[s.architecture].takes_sparsity_coef:
        parts.append(f"l{c.sparsity_coef:g}")
    return "_".join(parts)


def expand_sweep(data: dict, d_in: int, device: str = "cpu") -> dict[str, TrainConfig]:
    """Sweep-file contents -> {name: TrainConfig}, every list value expanded into a grid."""
    train_names = {f.name for f in fields(TrainConfig)} - {"sae"}
    top = {k: v for k, v in data.items() if k not in ("saes", "train")}
    if "vectors" in top:
        top["total_vectors"] = int(float(top.pop("vectors")))
    unknown = set(top) - train_names
    if unknown:
        raise MonoscopeError(
            f"unknown sweep setting(s) {sorted(unknown)}; known: vectors, saes, train, {', '.join(SHARED)}"
        )
    base = {**(data.get("train") or {}), **top, "device": device}
    out: dict[str, TrainConfig] = {}
    for i, entry in enumerate(data["saes"]):
        if not isinstance(entry, dict):
            raise MonoscopeError(f"sweep entry {i} must be a mapping like {{arch: topk, d_sae: 4096, k: 32}}")
        bad = set(entry) - set(SAE_KEYS) - train_names
        if bad:
            raise MonoscopeError(
                f"sweep entry {i}: unknown key(s) {sorted(bad)}; SAE keys: {', '.join(sorted(SAE_KEYS))}"
            )
        keys = list(entry)
        grid = [v if isinstance(v, list) else [v] for v in entry.values()]
        for combo in itertools.product(*grid):
            e = dict(zip(keys, combo))
            sae_kw = {SAE_KEYS[k]: v for k, v in e.items() if k in SAE_KEYS}
            sae = SAEConfig(**{"architecture": "relu", "d_in": d_in, **sae_kw})
            tr = {**base, **{k: v for k, v in e.items() if k not in SAE_KEYS}}
            cfg = TrainConfig(sae=sae, **tr)
            name = _name(cfg)
            while name in out:
                name += "+"
            out[name] = cfg
    first = next(iter(out.values()))
    for name, c in out.items():
        for k in SHARED:
            if getattr(c, k) != getattr(first, k):
                raise MonoscopeError(
                    f"sweep SAE {name} sets {k}={getattr(c, k)!r} but the stream is shared: "
                    f"all SAEs need {k}={getattr(first, k)!r} (set it at the top level)"
                )
    return out


def train_sweep(
    store,
    out: Path | str,
    configs: dict[str, TrainConfig],
    overwrite: bool = False,
    progress: bool = True,
    folders: dict[str, Path] | None = None,
) -> dict:
    """Train every SAE of `configs` on one pass over `store` into out/<name>/ (or `folders[name]`); resumable
    like train_sae."""
    out = Path(out)
    folders = {n: Path(folders[n]) if folders and n in folders else out / n for n in configs}
    if not configs:
        raise MonoscopeError("a sweep needs at least one SAE")
    for c in configs.values():
        check_d_in(c, store.d_in, store_source(store), store.widths)
    first = next(iter(configs.values()))
    stage_cfg = {"saes": {n: stage_config(c) for n, c in configs.items()}, "store": str(Path(store.folder).resolve())}
    if any(f != out / n for n, f in folders.items()):
        stage_cfg["folders"] = {n: str(f.resolve()) for n, f in folders.items()}
    refuse_other_config(out, "train-sweep", stage_cfg, overwrite)
    if open_stage(out, "train-sweep", stage_cfg, overwrite):
        return {n: load_sae(folders[n]) for n in configs}
    made = {n: make_trainer(store, c) for n, c in configs.items()}
    trainers = {n: t for n, (t, _) in made.items()}
    scale = next(iter(made.values()))[1]
    for f in folders.values():
        f.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    done = run_trainers(
        store,
        trainers,
        folders,
        out / CHECKPOINT,
        stage_cfg,
        first.steps,
        first.batch_size,
        first.seed,
        scale,
        first.device,
        first.checkpoint_every,
        progress,
        desc=f"train-sweep ({len(configs)} SAEs)",
    )
    secs = time.time() - t0
    saes = {n: finish_sae(trainers[n], folders[n], store.meta, store.hook, scale, secs, done) for n in configs}
    write_json(
        out / "sweep.json",
        {
            "saes": {
                n: {
                    "folder": str(folders[n]),
                    "architecture": c.sae.architecture,
                    "d_sae": c.sae.d_sae,
                    "k": c.sae.k,
                    "sparsity_coef": c.sparsity_coef,
                }
                for n, c in configs.items()
            },
            "steps": first.steps,
            "batch_size": first.batch_size,
            "seconds": round(secs, 2),
        },
    )
    (out / CHECKPOINT).unlink(missing_ok=True)
    finish_stage(out)
    return saes
