"""Run folders: every stage writes into a folder stamped with the config that made it.

A stage whose folder holds a finished stamp with the same config is reused; a
different config is refused unless the user asks to overwrite, so a user's
results are never replaced by accident. --overwrite deletes only a folder that
the same stage stamped; a folder stamped by another stage is always refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from monoscope.errors import MonoscopeError
from monoscope.io import read_json, write_json

STAMP = "monoscope_stage.json"


def _diff(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(parts[:4]) + (" ..." if len(parts) > 4 else "")


def open_stage(folder: Path | str, stage: str, config: dict[str, Any], overwrite: bool = False) -> bool:
    """Prepare `folder` for `stage`. Returns True when a finished result with this config is already there."""
    folder = Path(folder)
    stamp = folder / STAMP
    if stamp.exists():
        old = read_json(stamp, "stage stamp")
        same = old.get("stage") == stage and old.get("config") == _plain(config)
        if same and old.get("complete"):
            return True
        if old.get("stage") != stage:  # --overwrite replaces a result of this stage only, never another's
            raise MonoscopeError(
                f"{folder} holds a {old.get('stage')} result, not {stage}; --overwrite replaces only a {stage} "
                "result: choose another --out (or delete that folder yourself)"
            )
        if not same and not overwrite:
            raise MonoscopeError(
                f"{folder} was made by {old.get('stage')} with another configuration "
                f"({_diff(old.get('config', {}), _plain(config))}); "
                "pass --overwrite to replace it or choose another --out"
            )
        if not same and overwrite:
            shutil.rmtree(folder)
    elif folder.exists() and any(folder.iterdir()) and not overwrite:
        raise MonoscopeError(
            f"{folder} exists and was not made by monoscope {stage}; pass --overwrite or choose another --out"
        )
    folder.mkdir(parents=True, exist_ok=True)
    write_json(stamp, {"stage": stage, "config": _plain(config), "complete": False})
    return False


def is_complete(folder: Path | str, stage: str, config: dict[str, Any]) -> bool:
    """True when `folder` holds a finished `stage` made with this config (nothing is written)."""
    stamp = Path(folder) / STAMP
    if not stamp.exists():
        return False
    old = read_json(stamp, "stage stamp")
    return bool(old.get("complete")) and old.get("stage") == stage and old.get("config") == _plain(config)


def finish_stage(folder: Path | str) -> None:
    stamp = Path(folder) / STAMP
    data = read_json(stamp, "stage stamp")
    data["complete"] = True
    write_json(stamp, data)


def require_stage(folder: Path | str, stage: str) -> dict:
    """The config of a finished stage, or a clear error naming what to run first."""
    folder = Path(folder)
    if not folder.exists():
        raise MonoscopeError(f"run folder {folder} does not exist; run `monoscope {stage}` first")
    stamp = folder / STAMP
    if not stamp.exists():
        raise MonoscopeError(f"{folder} is not a monoscope {stage} folder (no {STAMP})")
    data = read_json(stamp, "stage stamp")
    if data.get("stage") != stage:
        raise MonoscopeError(f"{folder} holds a {data.get('stage')} result, expected {stage}")
    if not data.get("complete"):
        raise MonoscopeError(f"{folder}: {stage} did not finish; run it again")
    return data["config"]


def _plain(obj):
    import json

    return json.loads(json.dumps(obj, default=str))
