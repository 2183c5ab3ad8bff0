"""The shipped subject model: found inside the package, copied into a run, and retrained by a documented command.

Why ship one: a 1-layer model trained on ≥ 50M tokens takes about an hour on two
CPU cores, far more than a five-minute demo can spend, and a weaker subject
model would make every figure of the demo easier and less true. The folder
holds what `monoscope train-model` wrote (model.safetensors, config.json,
tokenizer.json, trained_on.json, train_summary.json, metrics.jsonl), so
anyone can check it against a retrained one.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from monoscope.errors import MonoscopeError
from monoscope.io import read_json, write_bytes
from monoscope.stages import finish_stage, open_stage

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT = "gpt-1l"
FILES = ("model.safetensors", "config.json", "tokenizer.json", "trained_on.json", "train_summary.json")
OPTIONAL = ("metrics.jsonl", "training.png")
TRAIN_COMMAND = (
    "monoscope data --out runs/shipped/data && "
    "monoscope train-model --data runs/shipped/data --layers 1 --d-model 128 --d-mlp 512 --heads 4 "
    "--steps 6400 --batch-size 64 --lr 3e-3 --seed 0 --out runs/shipped/model && "
    "monoscope ship-model --model runs/shipped/model --out monoscope/pretrained/gpt-1l"
)


def shipped_folder(name: str = DEFAULT) -> Path:
    """The shipped model's folder, or a one-line error saying how to make it."""
    folder = PRETRAINED / name
    missing = [f for f in FILES if not (folder / f).exists()]
    if missing:
        raise MonoscopeError(
            f"this installation has no shipped model {name!r} ({folder} lacks {', '.join(missing)}); "
            f"run `monoscope demo --train-model` or retrain it: {TRAIN_COMMAND}"
        )
    return folder


def weights_sha256(folder: Path | str) -> str:
    return hashlib.sha256((Path(folder) / "model.safetensors").read_bytes()).hexdigest()


def install(out: Path | str, name: str = DEFAULT, overwrite: bool = False) -> Path:
    """Copy the shipped model into a run folder (stamped, so a changed shipped model is noticed, not mixed)."""
    src = shipped_folder(name)
    out = Path(out)
    stamp = {"shipped": name, "weights_sha256": weights_sha256(src)}
    if open_stage(out, "shipped-model", stamp, overwrite):
        return out
    for f in FILES + OPTIONAL:
        if (src / f).exists():
            write_bytes(out / f, (src / f).read_bytes())
    finish_stage(out)
    return out


def ship(model: Path | str, dest: Path | str, overwrite: bool = False) -> Path:
    """Copy a finished `train-model` folder's files into `dest` (the package's pretrained/NAME folder)."""
    from monoscope.stages import require_stage

    model, dest = Path(model), Path(dest)
    require_stage(model, "train-model")
    missing = [f for f in FILES if not (model / f).exists()]
    if missing:
        raise MonoscopeError(f"{model} lacks {', '.join(missing)}; train it with this monoscope version")
    if dest.exists() and any(dest.iterdir()) and not overwrite:
        raise MonoscopeError(f"{dest} exists; pass --overwrite to replace the shipped model")
    if dest.exists() and overwrite:
        shutil.rmtree(dest)
    for f in FILES + OPTIONAL:
        if (model / f).exists():
            write_bytes(dest / f, (model / f).read_bytes())
    return dest


def shipped_summary(name: str = DEFAULT) -> dict:
    return read_json(shipped_folder(name) / "train_summary.json", "shipped model summary")
