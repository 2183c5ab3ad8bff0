"""Corpora: the built-in one (a snapshot shipped in the package, data/builtin/) and the user's own.

Each document keeps a *domain* label and, for the built-in corpus, span labels
(what each stretch of it is), so that later analyses can test features against
a known context at the level it lives: a script, a docstring inside code, a tag
inside a page.
"""

from __future__ import annotations

import glob as globmod
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from monoscope.errors import MonoscopeError


@dataclass
class Document:
    """A piece of text with its domain label, where it came from, its split, and its spans.

    `spans` are `(start, end, label)` covering the text (data/builtin/spans.py): what each stretch is, so
    token-level contexts (a docstring inside code, a tag inside a page) read the label of the token itself.
    User corpora carry none.
    """

    text: str
    domain: str
    source: str
    split: str = "train"
    spans: list | None = None

    def record(self) -> dict:
        return {
            "text": self.text,
            "domain": self.domain,
            "source": self.source,
            "split": self.split,
            "spans": [list(s) for s in self.spans] if self.spans is not None else None,
        }


MAX_DOC_CHARS = 4000
VAL_PERCENT = 5


def _cut(spans: list | None, a: int, b: int) -> list | None:
    if spans is None:
        return None
    return [(max(s, a) - a, min(e, b) - a, lab) for s, e, lab in spans if s < b and e > a]


def chunks(text: str, spans: list | None = None, limit: int = MAX_DOC_CHARS) -> Iterator[tuple[str, list | None]]:
    """Split at line boundaries into pieces of at most ~limit characters, each with its share of the spans."""
    start = size = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > limit and size:
            yield text[start:pos], _cut(spans, start, pos)
            start, size = pos, 0
        while len(line) > limit:
            yield text[pos : pos + limit], _cut(spans, pos, pos + limit)
            pos += limit
            start = pos
            line = line[limit:]
        pos += len(line)
        size += len(line)
    if size and text[start:pos].strip():
        yield text[start:pos], _cut(spans, start, pos)


MIN_VAL_DOCS = 3


def assign_splits(docs: list[Document], val_percent: int = VAL_PERCENT, min_val_chars: int = 0) -> list[Document]:
    """Split by document with a hash of its source, so the split never depends on order.

    Every domain with at least two documents keeps one in validation, and a small domain keeps up to
    MIN_VAL_DOCS (at most a fifth of its documents), and at least `min_val_chars` characters where that leaves
    two thirds of it for training, so that its held-out figures do not rest on a few tokens.
    """
    by_domain: dict[str, list[Document]] = {}
    for d in docs:
        d.split = "val" if zlib.crc32(d.source.encode()) % 100 < val_percent else "train"
        by_domain.setdefault(d.domain, []).append(d)
    for ds in by_domain.values():
        want = max(1 if len(ds) >= 2 else 0, min(MIN_VAL_DOCS, len(ds) // 5))
        train = sorted((d for d in ds if d.split == "train"), key=lambda d: (zlib.crc32(d.source.encode()), d.source))
        n_val = len(ds) - len(train)
        val_chars = sum(len(d.text) for d in ds if d.split == "val")
        cap = sum(len(d.text) for d in ds) / 3
        for d in train:
            if n_val >= want and (val_chars >= min_val_chars or val_chars + len(d.text) > cap):
                break
            d.split = "val"
            n_val += 1
            val_chars += len(d.text)
        if len(ds) >= 2 and not any(d.split == "train" for d in ds):
            ds[0].split = "train"
    return docs


def load_corpus(
    spec: str = "builtin", text_field: str = "text", domain_field: str = "domain", scale: float = 1.0
) -> list[Document]:
    """`builtin`, a folder, a glob of text files, or a JSONL file with a text field."""
    if spec == "builtin":
        from monoscope.data.builtin import builtin_documents

        docs = builtin_documents(scale)
    else:
        path = Path(spec)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            docs = _text_files(files, base=path)
        elif path.suffix == ".jsonl" and path.is_file():
            docs = _jsonl(path, text_field, domain_field)
        else:
            files = sorted(Path(p) for p in globmod.glob(spec, recursive=True) if Path(p).is_file())
            if not files:
                raise MonoscopeError(
                    f"corpus {spec!r} matched no files; expected 'builtin', a folder, a glob or a .jsonl file"
                )
            docs = _text_files(files, base=None)
        docs = assign_splits(docs)
    if not docs or not any(d.text.strip() for d in docs):
        raise MonoscopeError(f"corpus {spec!r} is empty: expected at least one non-empty text document")
    return docs


def _text_files(files: list[Path], base: Path | None) -> list[Document]:
    docs = []
    for p in files:
        raw = p.read_bytes()
        if b"\x00" in raw[:4096]:
            continue  # binary file, not text
        text = raw.decode("utf-8", errors="replace")
        rel = str(p.relative_to(base)) if base else str(p)
        domain = p.suffix.lstrip(".").lower() or "text"
        for i, (chunk, _) in enumerate(chunks(text)):
            if chunk.strip():
                docs.append(Document(chunk, domain, f"{rel}:{i}"))
    return docs


def _jsonl(path: Path, text_field: str, domain_field: str) -> list[Document]:
    docs = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise MonoscopeError(
                    f"{path}:{n}: not valid JSON ({e.msg}); expected one JSON object per line"
                ) from None
            if not isinstance(rec, dict) or text_field not in rec:
                raise MonoscopeError(f"{path}:{n}: no {text_field!r} field; pass --text-field to name the text column")
            domain = str(rec.get(domain_field, "text"))
            for i, (chunk, _) in enumerate(chunks(str(rec[text_field]))):
                if chunk.strip():
                    docs.append(Document(chunk, domain, f"{path.name}:{n}:{i}"))
    return docs


def domain_counts(docs: list[Document]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for d in docs:
        c = out.setdefault(d.domain, {"docs": 0, "chars": 0, "val_docs": 0})
        c["docs"] += 1
        c["chars"] += len(d.text)
        c["val_docs"] += d.split == "val"
    return out
