"""Atomic training checkpoints: weights, optimiser, schedule position, RNG and data position in one file.

A checkpoint records the configuration that made it; resuming with another
configuration is refused with the differences named. Files are written with
torch.save to a temporary name, fsynced, then renamed, and read back with
torch.load(weights_only=True) only.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from monoscope.errors import MonoscopeError
from monoscope.io import load_torch, save_torch, truncate_jsonl

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict, config: dict) -> None:
    save_torch(path, {**state, "config_json": json.dumps(config, sort_keys=True, default=str)})


def config_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def load_checkpoint(path: Path, config: dict, device: str | torch.device = "cpu") -> dict:
    """The saved state, or a one-line error if it was made with another configuration."""
    st = load_torch(path, "checkpoint", device)
    if not isinstance(st, dict):
        raise MonoscopeError(f"checkpoint {path} holds no training state; delete it or pass --overwrite")
    old = json.loads(st.pop("config_json", "{}"))
    diff = config_diff(old, json.loads(json.dumps(config, sort_keys=True, default=str)))
    if diff:
        raise MonoscopeError(
            f"cannot resume from {path}: it was made with another configuration ({'; '.join(diff[:4])}); "
            "pass --overwrite to start again"
        )
    return st


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint (and a torn last line), so a resumed run logs each step once."""
    truncate_jsonl(path, step)


def refuse_other_config(folder: Path, stage: str, config: dict, overwrite: bool) -> None:
    """Before open_stage: name the exact nested settings that differ from the run already in `folder`."""
    from monoscope.io import read_json
    from monoscope.stages import STAMP

    stamp = Path(folder) / STAMP
    if overwrite or not stamp.exists():
        return
    old = read_json(stamp, "stage stamp")
    if old.get("stage") != stage:
        return
    diff = config_diff(old.get("config", {}), json.loads(json.dumps(config, default=str)))
    if diff:
        raise MonoscopeError(
            f"{folder} holds a {stage} run with another configuration ({'; '.join(diff[:4])}"
            f"{' ...' if len(diff) > 4 else ''}); pass --overwrite to replace it or choose another --out"
        )
