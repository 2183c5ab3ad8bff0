"""Corpora: the built-in one made from the Python standard library, and the user's own.

The built-in corpus needs no network: every Python installation carries its own
sources, documentation and test data. Each document keeps a *domain* label so
that later analyses can test features against a known context (python code,
English prose, CJK text, base64, hex, html, email, xml).
"""

from __future__ import annotations

import ast
import base64
import binascii
import glob as globmod
import hashlib
import json
import sysconfig
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from monoscope.errors import MonoscopeError

DOMAINS = ("python", "prose", "cjk", "base64", "hex", "html", "email", "xml")


@dataclass
class Document:
    text: str
    domain: str
    source: str
    split: str = "train"


# Characters per domain in the built-in corpus: enough for the demo model to
# learn every domain, small enough to tokenise in seconds.
BUILTIN_BUDGET = {
    "python": 2_500_000,
    "prose": 1_800_000,
    "base64": 400_000,
    "hex": 300_000,
    "html": 300_000,
    "email": 200_000,
    "xml": 100_000,
    "cjk": 100_000,
}
MAX_DOC_CHARS = 4000
VAL_PERCENT = 5


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _read(path: Path, encoding: str = "utf-8") -> str:
    # Invalid bytes become U+FFFD rather than stopping the build.
    return path.read_bytes().decode(encoding, errors="replace")


def _chunks(text: str, limit: int = MAX_DOC_CHARS) -> Iterator[str]:
    """Split at line boundaries into pieces of at most ~limit characters."""
    buf: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > limit and buf:
            yield "".join(buf)
            buf, size = [], 0
        while len(line) > limit:
            yield line[:limit]
            line = line[limit:]
        buf.append(line)
        size += len(line)
    if buf and "".join(buf).strip():
        yield "".join(buf)


def _order(paths: Iterable[Path]) -> list[Path]:
    """A deterministic, well-mixed order (not alphabetical, so budgets sample widely)."""
    return sorted(paths, key=lambda p: zlib.crc32(str(p.relative_to(_stdlib())).encode()))


def _py_files(root: Path) -> list[Path]:
    skip = ("site-packages", "test", "tests", "idle_test", "__pycache__", "lib2to3")
    return _order(p for p in root.rglob("*.py") if not any(s in p.relative_to(root).parts for s in skip))


def _python_sources(root: Path) -> Iterator[tuple[str, str]]:
    for p in _py_files(root):
        yield _read(p), str(p.relative_to(root))


def _prose(root: Path, exclude: set[str]) -> Iterator[tuple[str, str]]:
    """pydoc topics, then docstrings of modules the python domain did not take (no text under two labels)."""
    topics_file = root / "pydoc_data" / "topics.py"
    if topics_file.exists():
        try:
            topics = ast.literal_eval(_read(topics_file).split("topics = ", 1)[1])
            for name in sorted(topics):
                yield topics[name], f"pydoc_data/topics.py#{name}"
        except (ValueError, SyntaxError, IndexError):
            pass
    for p in _py_files(root):
        if str(p.relative_to(root)) in exclude:
            continue
        try:
            tree = ast.parse(_read(p))
        except (SyntaxError, ValueError):
            continue
        docs = [
            ast.get_docstring(n)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        docs = [d for d in docs if d and len(d) > 80]
        if docs:
            yield "\n\n".join(docs) + "\n", str(p.relative_to(root)) + "#docstrings"


def _files(root: Path, patterns: Iterable[str]) -> list[Path]:
    out: set[Path] = set()
    for pat in patterns:
        out.update(p for p in root.glob(pat) if p.is_file() and "site-packages" not in p.parts)
    return _order(out)


def _binary_files(root: Path) -> list[Path]:
    pats = [
        "test/audiodata/*",
        "test/imghdrdata/*",
        "ensurepip/_bundled/*.whl",
        "test/*.png",
        "test/*.gif",
        "test/*.wav",
        "test/*.aif*",
        "test/*.bmp",
        "test/*.zip",
        "test/*.gz",
        "test/*.bz2",
        "test/*.xz",
        "idlelib/Icons/*",
        "test/*.der",
        "test/*.pem",
        "test/*.tar",
        "test/*.jpg",
        "tkinter/*.gif",
        "test/**/*.pck",
    ]
    return _files(root, pats)


def _encoded(root: Path, encode) -> Iterator[tuple[str, str]]:
    """Encodings of real (mostly binary) files, in pieces of ~3 KB of raw bytes."""
    for p in _binary_files(root):
        data = p.read_bytes()
        for off in range(0, min(len(data), 120_000), 3000):
            piece = data[off : off + 3000]
            if piece:
                yield encode(piece), f"{p.relative_to(root)}@{off}"


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _hex(data: bytes) -> str:
    h = binascii.hexlify(data).decode("ascii")
    return "\n".join(h[i : i + 64] for i in range(0, len(h), 64)) + "\n"


def builtin_corpus(budget: dict[str, int] | None = None) -> list[Document]:
    """The default corpus: standard-library text with domain labels, split deterministically."""
    root = _stdlib()
    budget = dict(BUILTIN_BUDGET if budget is None else budget)
    used_py: set[str] = set()  # filled while "python" is drawn, before "prose" starts
    sources = {
        "python": _python_sources(root),
        "prose": _prose(root, used_py),
        "cjk": ((_read(p), str(p.relative_to(root))) for p in _files(root, ["test/cjkencodings/*-utf8.txt"])),
        "email": (
            (_read(p), str(p.relative_to(root)))
            for p in _files(root, ["test/test_email/data/msg_*.txt", "test/test_email/data/*.eml"])
        ),
        "html": ((_read(p), str(p.relative_to(root))) for p in _files(root, ["**/*.html", "**/*.htm"])),
        "xml": (
            (_read(p), str(p.relative_to(root)))
            for p in _files(root, ["test/xmltestdata/**/*.xml", "**/*.xml", "test/xmltestdata/**/*.xsl"])
        ),
        "base64": _encoded(root, _b64),
        "hex": _encoded(root, _hex),
    }
    docs: list[Document] = []
    seen: set[bytes] = set()  # exact duplicates (the CJK test files repeat one text in several encodings) kept once
    for domain, it in sources.items():
        left = budget.get(domain, 0)
        for text, source in it:
            if left <= 0:
                break
            for i, chunk in enumerate(_chunks(text)):
                if left <= 0:
                    break
                key = hashlib.sha1(chunk.encode("utf-8", "surrogatepass")).digest()
                if chunk.strip() and key not in seen:
                    seen.add(key)
                    docs.append(Document(chunk, domain, f"{source}:{i}"))
                    left -= len(chunk)
                    if domain == "python":
                        used_py.add(source)
    return assign_splits(docs)


MIN_VAL_DOCS = 3


def assign_splits(docs: list[Document], val_percent: int = VAL_PERCENT) -> list[Document]:
    """Split by document with a hash of its source, so the split never depends on order.

    Every domain with at least two documents keeps one in validation, and a small
    domain keeps up to MIN_VAL_DOCS (at most a fifth of its documents) so that its
    held-out figures do not rest on a single document.
    """
    by_domain: dict[str, list[Document]] = {}
    for d in docs:
        d.split = "val" if zlib.crc32(d.source.encode()) % 100 < val_percent else "train"
        by_domain.setdefault(d.domain, []).append(d)
    for ds in by_domain.values():
        want = max(1 if len(ds) >= 2 else 0, min(MIN_VAL_DOCS, len(ds) // 5))
        train = sorted((d for d in ds if d.split == "train"), key=lambda d: zlib.crc32(d.source.encode()) % 100)
        for d in train[: max(0, want - (len(ds) - len(train)))]:
            d.split = "val"
        if len(ds) >= 2 and not any(d.split == "train" for d in ds):
            ds[0].split = "train"
    return docs


def load_corpus(
    spec: str = "builtin", text_field: str = "text", domain_field: str = "domain", scale: float = 1.0
) -> list[Document]:
    """`builtin`, a folder, a glob of text files, or a JSONL file with a text field."""
    if spec == "builtin":
        docs = builtin_corpus({k: max(1, int(v * scale)) for k, v in BUILTIN_BUDGET.items()})
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
        for i, chunk in enumerate(_chunks(text)):
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
            for i, chunk in enumerate(_chunks(str(rec[text_field]))):
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
