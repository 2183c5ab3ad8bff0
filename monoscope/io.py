"""Atomic writes and safe loads: a crash never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _replacing(path: Path):
    """A temporary name beside `path`; on a clean exit its file is synced and renamed onto `path`, else removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a written file gets the user's usual mode
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    with _replacing(path) as tmp:
        write(tmp)
    return path


@contextlib.contextmanager
def open_atomic(path: Path | str, overwrite: bool = False, what: str = "output file"):
    """A text file to stream into that appears at `path` only when the block finishes (an existing file is
    refused unless `overwrite`)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise MonoscopeError(f"{what} {path} exists; pass --overwrite or choose another path")
    with _replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        yield fh


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


def _check_safetensors(path: Path, what: str) -> None:
    if not path.exists():
        raise MonoscopeError(f"missing {what}: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
        raise MonoscopeError(f"{path} is a pickle/zip file, not safetensors; monoscope never unpickles weights")


def tensor_shapes(path: Path | str, what: str = "safetensors file") -> dict[str, tuple[int, ...]]:
    """Names and shapes from a safetensors header alone, so a loader can check them before allocating anything."""
    from safetensors import safe_open

    path = Path(path)
    _check_safetensors(path, what)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, Exception) as e:  # safetensors raises several types for corrupt input
        raise MonoscopeError(f"{path} is not a valid safetensors file (truncated or corrupt): {e}") from None


def load_tensors(path: Path | str, what: str = "safetensors file") -> dict[str, torch.Tensor]:
    """Load a safetensors file; a pickle or a truncated file gets a one-line error, never unpickled."""
    path = Path(path)
    _check_safetensors(path, what)
    try:
        return load_file(str(path))
    except (SafetensorError, Exception) as e:  # safetensors raises several types for corrupt input
        raise MonoscopeError(f"{path} is not a valid safetensors file (truncated or corrupt): {e}") from None


def jsonl_append(path: Path | str, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=_json_default) + "\n")


def read_jsonl(path: Path | str) -> list[dict]:
    """Records of a JSON-lines log. A last line cut short by a crash (no newline, not JSON) is dropped, as the
    record was never finished; a bad line anywhere else is corruption and gets one line naming it."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines):  # the unterminated last line: a torn append
                break
            raise MonoscopeError(
                f"{path}:{n} is not a JSON record; the log is corrupt (delete it to start it again)"
            ) from None
    return out


def truncate_jsonl(path: Path | str, step: int) -> None:
    """Keep the records up to `step` (and drop a torn last line): a resumed run then logs each step once."""
    path = Path(path)
    if path.exists():
        keep = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
        write_text(path, "".join(json.dumps(r, default=_json_default) + "\n" for r in keep))


def save_torch(path: Path | str, obj: Any) -> Path:
    """torch.save to a temporary name, fsynced, then renamed: a crash leaves the old checkpoint or the new one."""
    return _atomic(Path(path), lambda tmp: torch.save(obj, tmp))


def load_torch(path: Path | str, what: str = "checkpoint", device: str | torch.device = "cpu") -> Any:
    """torch.load(weights_only=True) (no arbitrary pickles); anything unreadable is one line that names the fix."""
    path = Path(path)
    try:
        return torch.load(path, weights_only=True, map_location=device)
    except Exception as e:  # noqa: BLE001 - torch raises many types for torn or foreign files
        raise MonoscopeError(
            f"{what} {path} is unreadable ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}); "
            "delete it or pass --overwrite to start again"
        ) from None


REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json")


def refuse_remote_code(folder: Path | str) -> None:
    """A Hugging Face folder whose config names Python classes (`auto_map`) would run its own code on load;
    monoscope loads such folders never (transformers is also told trust_remote_code=False)."""
    folder = Path(folder)
    if not folder.is_dir():
        return  # a hub id: transformers refuses remote code itself under trust_remote_code=False
    for name in REMOTE_CODE_FILES:
        p = folder / name
        if not p.exists():
            continue
        cfg = read_json(p, f"Hugging Face {name}")
        if isinstance(cfg, dict) and cfg.get("auto_map"):
            code = sorted({str(v) for v in cfg["auto_map"].values()} if isinstance(cfg["auto_map"], dict) else [])
            raise MonoscopeError(
                f"{p} maps classes to code in the folder ({', '.join(code)[:200]}); monoscope never runs a model "
                "folder's own code: use an architecture transformers ships, or remove auto_map after reading the code"
            )
