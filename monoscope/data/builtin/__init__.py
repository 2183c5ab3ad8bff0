"""The built-in corpus: a frozen snapshot shipped inside the package, so every installation reads the same text.

`builtin_documents(scale)` reads it; `build.py` rebuilds it from its sources
(`monoscope corpus build`). The manifest beside the snapshot names every
source, its licence, the versions it was built from and the fingerprint.
"""

from __future__ import annotations

import json
import lzma
import zlib
from pathlib import Path

from monoscope.errors import MonoscopeError

HERE = Path(__file__).parent
SNAPSHOT = HERE / "corpus.jsonl.xz"


def manifest_path(snapshot: Path | str = SNAPSHOT) -> Path:
    return Path(snapshot).with_name("corpus.json")


def manifest(snapshot: Path | str = SNAPSHOT) -> dict:
    path = manifest_path(snapshot)
    if not path.exists():
        raise MonoscopeError(f"missing corpus manifest {path}; rebuild with `monoscope corpus build --out {snapshot}`")
    return json.loads(path.read_text(encoding="utf-8"))


def load_snapshot(snapshot: Path | str = SNAPSHOT) -> list:
    from monoscope.data.corpus import Document

    path = Path(snapshot)
    if not path.exists():
        raise MonoscopeError(f"missing built-in corpus {path}; rebuild with `monoscope corpus build --out {path}`")
    docs = []
    for line in lzma.decompress(path.read_bytes()).decode("utf-8").splitlines():
        r = json.loads(line)
        docs.append(Document(r["text"], r["domain"], r["source"], r["split"], [tuple(s) for s in r["spans"]]))
    return docs


def builtin_documents(scale: float = 1.0) -> list:
    """The snapshot's documents; `scale` < 1 keeps that share of each (domain, split), chosen by source hash."""
    docs = load_snapshot()
    if scale >= 1:
        return docs
    groups: dict[tuple[str, str], list] = {}
    for d in docs:
        groups.setdefault((d.domain, d.split), []).append(d)
    keep = []
    for g in groups.values():
        g = sorted(g, key=lambda d: zlib.crc32(d.source.encode()))
        keep += g[: max(1, round(len(g) * scale))]
    order = {id(d): i for i, d in enumerate(docs)}
    return sorted(keep, key=lambda d: order[id(d)])
