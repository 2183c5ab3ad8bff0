"""The feature store: one SQLite database per analysis, so a feature page is one indexed read.

Schema (all tables written once by `write_store`, then read-only):

    meta(key TEXT PRIMARY KEY, value TEXT)
        JSON values: version, sae_path, sae_hash (sha256 of sae_weights.safetensors),
        d_sae, d_in, hook, model_path, data_path, split, n_tokens, config, window, ...
    vocab(id INTEGER PRIMARY KEY, text TEXT)
        token id -> decoded text, so pages render without the tokenizer.
    features(id INTEGER PRIMARY KEY, density REAL, max_act REAL, mean_act REAL,
             n_active INTEGER, label TEXT, panels TEXT)
        one row per feature; `panels` is JSON: histogram, logit effects (top/bottom
        tokens + histogram), decoder neighbours, aligned neurons, correlated
        neurons and features. Indexed on density and max_act for sorted lists.
    examples(feature INTEGER, kind TEXT, rank INTEGER, bin INTEGER, act REAL,
             row INTEGER, col INTEGER, doc INTEGER, pos INTEGER, start INTEGER,
             tokens TEXT, acts TEXT, loss TEXT, PRIMARY KEY(feature, kind, rank)) WITHOUT ROWID
        kind 'top' (rank 0 = strongest) or 'quantile' (bin = activation interval);
        row/col locate the token in the analysed split, doc/pos in its document;
        `tokens`/`acts`/`loss` are JSON lists over the window starting at column `start`.
    token_index(token INTEGER, feature INTEGER, kind TEXT, score REAL)
        'act': how often the token is the peak of one of the feature's top examples;
        'logit': the feature's direct logit effect on the token (top tokens only).
        Indexed on (token, score) for search by token.

The database is written to a temporary file and renamed into place, so an
interrupted analysis leaves the previous store intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from monoscope.errors import MonoscopeError

VERSION = 1
DB_NAME = "features.db"
SORTS = {"index": "id", "density": "density", "max_act": "max_act"}

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE vocab(id INTEGER PRIMARY KEY, text TEXT);
CREATE TABLE features(id INTEGER PRIMARY KEY, density REAL, max_act REAL, mean_act REAL, n_active INTEGER,
                      label TEXT, panels TEXT);
CREATE TABLE examples(feature INTEGER, kind TEXT, rank INTEGER, bin INTEGER, act REAL, row INTEGER, col INTEGER,
                      doc INTEGER, pos INTEGER, start INTEGER, tokens TEXT, acts TEXT, loss TEXT,
                      PRIMARY KEY(feature, kind, rank)) WITHOUT ROWID;
CREATE TABLE token_index(token INTEGER, feature INTEGER, kind TEXT, score REAL);
"""
INDEXES = """
CREATE INDEX features_density ON features(density);
CREATE INDEX features_max_act ON features(max_act);
CREATE INDEX token_index_token ON token_index(token, score);
"""


@dataclass(slots=True)
class ExampleRow:
    """One row of the examples table (see the schema above): where the token is, and its window."""

    feature: int
    kind: str  # 'top' | 'quantile'
    rank: int
    bin: int  # activation interval of a quantile example (0 for top examples)
    act: float
    row: int  # the token in the analysed split
    col: int
    doc: int  # the token in its document
    pos: int
    start: int  # column of the window's first token
    tokens: list[int]  # the window
    acts: list[float]
    loss: list[float] | None = None  # per-token ablation effect, for the top few examples

    @property
    def token(self) -> int:
        """The example's own token id (the window's token at `col`)."""
        return self.tokens[self.col - self.start]


def visible(text: str) -> str:
    """A token as a reader can see it: newlines, tabs and all-space tokens made explicit."""
    t = text.replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    return t.replace(" ", "␣") if t.strip() == "" and t else t


def sae_hash(sae_folder: Path | str) -> str:
    """sha256 of the SAE's weights file: a store is tied to exactly these weights."""
    p = Path(sae_folder) / "sae_weights.safetensors"
    if not p.exists():
        raise MonoscopeError(f"{sae_folder} has no sae_weights.safetensors")
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class StoreWriter:
    """Builds a store in a temporary file beside `path`; `commit()` renames it into place."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        os.unlink(tmp)
        self.tmp = Path(tmp)
        self.db = sqlite3.connect(self.tmp)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript(SCHEMA)

    def meta(self, items: dict[str, Any]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in items.items()])

    def vocab(self, texts: list[str]) -> None:
        self.db.executemany("INSERT INTO vocab VALUES (?, ?)", enumerate(texts))

    def features(self, rows: Iterable[tuple]) -> None:
        """Rows of (id, density, max_act, mean_act, n_active, label, panels_dict)."""
        self.db.executemany(
            "INSERT INTO features VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((*r[:6], json.dumps(r[6], separators=(",", ":"))) for r in rows),
        )

    def examples(self, rows: Iterable[ExampleRow]) -> None:
        def enc(r: ExampleRow):
            *head, tokens, acts, loss = astuple(r)
            return (*head, json.dumps(tokens), json.dumps(acts), None if loss is None else json.dumps(loss))

        self.db.executemany("INSERT INTO examples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", map(enc, rows))

    def token_index(self, rows: Iterable[tuple[int, int, str, float]]) -> None:
        self.db.executemany("INSERT INTO token_index VALUES (?, ?, ?, ?)", rows)

    def commit(self) -> Path:
        self.db.executescript(INDEXES)
        self.db.commit()
        self.db.execute("ANALYZE")
        self.db.close()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


def _row_dict(cur: sqlite3.Cursor, row: tuple) -> dict:
    return {d[0]: v for d, v in zip(cur.description, row)}


class FeatureStore:
    """Read-only queries over a store; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path | str, sae_folder: Path | str | None = None):
        p = Path(path)
        if p.is_dir():
            p = p / DB_NAME
        if not p.exists():
            raise MonoscopeError(f"no feature store at {p}; run `monoscope analyze` first")
        self.path = p
        self._local = threading.local()
        try:
            self.meta = {k: json.loads(v) for k, v in self._db().execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError as e:
            raise MonoscopeError(f"{p} is not a monoscope feature store ({e})") from None
        if self.meta.get("version") != VERSION:
            raise MonoscopeError(
                f"{p} has store version {self.meta.get('version')}, expected {VERSION}; run `monoscope analyze` again"
            )
        self.d_sae = int(self.meta["d_sae"])
        self._vocab: list[str] | None = None
        if sae_folder is not None:
            self.check_sae(sae_folder)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def check_sae(self, sae_folder: Path | str) -> None:
        """Refuse a store built for other weights: its evidence would describe other features."""
        h = sae_hash(sae_folder)
        if h != self.meta.get("sae_hash"):
            raise MonoscopeError(
                f"feature store {self.path} was built for the SAE at {self.meta.get('sae_path')} "
                f"(weights sha256 {str(self.meta.get('sae_hash'))[:12]}), not {sae_folder} "
                f"(sha256 {h[:12]}); run `monoscope analyze --sae {sae_folder} --overwrite`"
            )

    @property
    def vocab(self) -> list[str]:
        if self._vocab is None:
            self._vocab = [t for (t,) in self._db().execute("SELECT text FROM vocab ORDER BY id")]
        return self._vocab

    def __len__(self) -> int:
        return self.d_sae

    def feature(self, i: int) -> dict | None:
        cur = self._db().execute("SELECT * FROM features WHERE id = ?", (int(i),))
        row = cur.fetchone()
        if row is None:
            return None
        d = _row_dict(cur, row)
        d["panels"] = json.loads(d["panels"])
        return d

    def examples(self, i: int, kind: str = "top") -> list[dict]:
        cur = self._db().execute("SELECT * FROM examples WHERE feature = ? AND kind = ? ORDER BY rank", (int(i), kind))
        out = []
        for row in cur.fetchall():
            d = _row_dict(cur, row)
            for k in ("tokens", "acts", "loss"):
                d[k] = None if d[k] is None else json.loads(d[k])
            out.append(d)
        return out

    def top_examples(self, i: int) -> list[dict]:
        return self.examples(i, "top")

    def quantile_examples(self, i: int) -> list[dict]:
        return self.examples(i, "quantile")

    def list(
        self,
        sort: str = "index",
        limit: int = 100,
        offset: int = 0,
        descending: bool | None = None,
        alive_only: bool = False,
    ) -> list[dict]:
        """Feature rows without panels, sorted by 'index', 'density' or 'max_act'."""
        if sort not in SORTS:
            raise MonoscopeError(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")
        desc = (sort != "index") if descending is None else descending
        where = "WHERE n_active > 0" if alive_only else ""
        q = (
            f"SELECT id, density, max_act, mean_act, n_active, label FROM features {where} "
            f"ORDER BY {SORTS[sort]} {'DESC' if desc else 'ASC'}, id LIMIT ? OFFSET ?"
        )
        cur = self._db().execute(q, (max(0, int(limit)), max(0, int(offset))))
        return [_row_dict(cur, r) for r in cur.fetchall()]

    def count(self, alive_only: bool = False) -> int:
        q = "SELECT COUNT(*) FROM features" + (" WHERE n_active > 0" if alive_only else "")
        return int(self._db().execute(q).fetchone()[0])

    def token_ids(self, text: str) -> list[int]:
        """Vocabulary entries matching `text`: exact (ignoring surrounding spaces and case) first, then containing
        it."""
        t = text.strip().lower()
        if not t:
            return []
        exact = [i for i, v in enumerate(self.vocab) if v.strip().lower() == t]
        part = [i for i, v in enumerate(self.vocab) if t in v.lower() and i not in set(exact)]
        return exact + part[:50]

    def search_token(self, text: str, limit: int = 50) -> list[dict]:
        """Features whose top examples peak on, or whose logits favour, a token matching `text`."""
        ids = self.token_ids(text)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        cur = self._db().execute(
            f"SELECT t.feature, t.kind, MAX(t.score) AS score, t.token, f.density, f.max_act, f.label "
            f"FROM token_index t JOIN features f ON f.id = t.feature WHERE t.token IN ({marks}) "
            f"GROUP BY t.feature, t.kind ORDER BY (t.kind = 'act') DESC, score DESC LIMIT ?",
            (*ids, int(limit)),
        )
        out = []
        for row in cur.fetchall():
            d = _row_dict(cur, row)
            d["token_text"] = self.vocab[d["token"]]
            out.append(d)
        return out

    def max_acts(self) -> list[float]:
        return [m for (m,) in self._db().execute("SELECT max_act FROM features ORDER BY id")]

    def labels(self) -> dict[int, str]:
        return {i: lab for i, lab in self._db().execute("SELECT id, label FROM features")}

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
