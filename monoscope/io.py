"""Atomic writes and safe loads: a crash never leaves a half-written file in place."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from monoscope.errors import MonoscopeError

_UMASK = os.umask(0)
os.umask(_UMASK)


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a written file gets the user's usual mode
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: Path | str, text: str) -> Path:
    def w(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return _atomic(Path(path), w)


def write_bytes(path: Path | str, data: bytes) -> Path:
    def w(tmp):
        with open(tmp, "wb") as fh:
            fh.write(data)

    return _atomic(Path(path), w)


def write_json(path: Path | str, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path | str, what: str = "JSON file") -> Any:
    path = Path(path)
    if not path.exists():
        raise MonoscopeError(f"missing {what}: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MonoscopeError(f"corrupt {what} {path}: {e}") from None


def save_tensors(path: Path | str, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return _atomic(Path(path), lambda tmp: save_file(tensors, tmp, metadata=metadata))


_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")


def load_tensors(path: Path | str, what: str = "safetensors file") -> dict[str, torch.Tensor]:
    """Load a safetensors file; a pickle or a truncated file gets a one-line error, never unpickled."""
    path = Path(path)
    if not path.exists():
        raise MonoscopeError(f"missing {what}: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
        raise MonoscopeError(f"{path} is a pickle/zip file, not safetensors; monoscope never unpickles weights")
    try:
        return load_file(str(path))
    except (SafetensorError, Exception) as e:  # safetensors raises several types for corrupt input
        raise MonoscopeError(f"{path} is not a valid safetensors file (truncated or corrupt): {e}") from None


def jsonl_append(path: Path | str, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=_json_default) + "\n")


def read_jsonl(path: Path | str) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
