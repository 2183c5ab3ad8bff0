"""Atomic training checkpoints: weights, optimiser, schedule position, RNG and data position in one file.

A checkpoint records the configuration that made it; resuming with another
configuration is refused with the differences named. Files are written with
torch.save to a temporary name, fsynced, then renamed, and read back with
torch.load(weights_only=True) only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from monoscope.errors import MonoscopeError
from monoscope.io import jsonl_append, read_jsonl, write_text

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict, config: dict) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({**state, "config_json": json.dumps(config, sort_keys=True, default=str)}, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
    try:
        st = torch.load(path, weights_only=True, map_location=device)
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint gets one clear line
        raise MonoscopeError(
            f"checkpoint {path} is unreadable ({type(e).__name__}); delete it or pass --overwrite"
        ) from None
    old = json.loads(st.pop("config_json", "{}"))
    diff = config_diff(old, json.loads(json.dumps(config, sort_keys=True, default=str)))
    if diff:
        raise MonoscopeError(
            f"cannot resume from {path}: it was made with another configuration ({'; '.join(diff[:4])}); "
            "pass --overwrite to start again"
        )
    return st


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint, so a resumed run logs each step once."""
    path = Path(path)
    if path.exists():
        keep = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
        write_text(path, "")
        for r in keep:
            jsonl_append(path, r)


def refuse_other_config(folder: Path, stage: str, config: dict, overwrite: bool) -> None:
    """Before open_stage: name the exact nested settings that differ from the run already in `folder`."""
    from monoscope.io import read_json
    from monoscope.runs import STAMP

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
