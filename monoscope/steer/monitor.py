"""Feature monitors: stream documents through the model and report where chosen features fire.

Documents come from text files (one document per file) or JSONL files (one
object per line with a text field, or a bare JSON string). Each document is
cut into windows of [BOS] + (n_ctx - 1) tokens; windows are batched and the
forward pass stops at the hook, and only the watched features are encoded,
so monitoring costs less than a plain forward pass.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.sae.splice import check_splice
from monoscope.steer.edits import check_features


@dataclass
class MonitorConfig:
    features: list[int]
    threshold: float = 0.0  # a hit is an activation strictly above this
    text_field: str = "text"
    on_error: str = "stop"  # "stop" raises at the first bad input; "skip" reports it and goes on
    context_tokens: int = 8  # tokens of context on each side of a hit
    batch_contexts: int = 32
    docs_per_batch: int = 64  # documents tokenised together

    def __post_init__(self):
        if self.on_error not in ("stop", "skip"):
            raise MonoscopeError(f"on_error must be 'stop' or 'skip', got {self.on_error!r}")
        if not self.features:
            raise MonoscopeError("no features to monitor; pass e.g. --features 12,40")
        if self.threshold != self.threshold:
            raise MonoscopeError("threshold must be a number, got NaN")


@dataclass
class MonitorSummary:
    documents: int = 0
    tokens: int = 0
    hits: Counter = field(default_factory=Counter)
    docs_with_hits: Counter = field(default_factory=Counter)
    max_activation: dict = field(default_factory=dict)
    bad_inputs: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "documents": self.documents,
            "tokens": self.tokens,
            "hits": sum(self.hits.values()),
            "hits_per_feature": {str(k): v for k, v in sorted(self.hits.items())},
            "documents_with_hits": {str(k): v for k, v in sorted(self.docs_with_hits.items())},
            "max_activation": {str(k): v for k, v in sorted(self.max_activation.items())},
            "bad_inputs": self.bad_inputs,
        }


def iter_documents(
    paths: Iterable[str | Path], text_field: str = "text", on_error: str = "stop", bad: list | None = None
) -> Iterator[tuple[str, str]]:
    """(name, text) for each document; bad inputs raise (on_error='stop') or are recorded in `bad` and skipped."""

    def fail(msg: str):
        if on_error == "stop":
            raise MonoscopeError(msg + " (pass --on-error skip to go on past bad inputs)")
        if bad is not None:
            bad.append(msg)

    for p in paths:
        p = Path(p)
        if not p.is_file():
            fail(f"{p}: no such file")
            continue
        raw = p.read_bytes()
        if p.suffix.lower() == ".jsonl":
            for n, line in enumerate(raw.split(b"\n"), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    fail(f"{p}:{n}: not valid JSONL ({type(e).__name__}: {str(e)[:80]})")
                    continue
                text = obj if isinstance(obj, str) else obj.get(text_field) if isinstance(obj, dict) else None
                if not isinstance(text, str):
                    fail(f"{p}:{n}: expected a JSON object with a string {text_field!r} field or a JSON string")
                    continue
                name = f"{p}:{n}" if not (isinstance(obj, dict) and "id" in obj) else f"{p}:{obj['id']}"
                yield name, text
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                line = raw[: e.start].count(b"\n") + 1
                fail(f"{p}:{line}: not valid UTF-8 text (byte {e.start})")
                continue
            if "\x00" in text:
                fail(f"{p}:{text[: text.index(chr(0))].count(chr(10)) + 1}: binary data (NUL byte), not text")
                continue
            yield str(p), text


class Monitor:
    """Watches features of an SAE spliced at its hook (read-only: the model's output is not changed)."""

    def __init__(
        self,
        model,
        sae,
        tokenizer,
        bos_id: int,
        cfg: MonitorConfig,
        hook: str | None = None,
        positions: Positions | int | None = None,
    ):
        """`positions`: which count (a Dataset's `.positions`; default: none holding `bos_id`)."""
        self.hook = check_splice(model, sae, hook)
        self.rule = Positions.of(bos_id if positions is None else positions)
        check_features(cfg.features, sae.d_sae)
        self.model, self.sae, self.tok, self.bos, self.cfg = model, sae, tokenizer, bos_id, cfg
        self.n_ctx = model.cfg.n_ctx
        self.dev = next(sae.parameters()).device
        self.feats = torch.tensor(cfg.features, device=self.dev)
        self.summary = MonitorSummary()

    @torch.no_grad()
    def _windows(self, batch: list[tuple[str, list[int]]]) -> Iterator[list[tuple[int, int, list[int]]]]:
        """Batches of (doc index, offset of the window in the doc, window ids without BOS)."""
        body = self.n_ctx - 1
        out = []
        for d, (_, ids) in enumerate(batch):
            for off in range(0, len(ids), body):
                out.append((d, off, ids[off : off + body]))
                if len(out) == self.cfg.batch_contexts:
                    yield out
                    out = []
        if out:
            yield out

    @torch.no_grad()
    def _scan(self, batch: list[tuple[str, list[int]]], emit: Callable[[dict], None]) -> None:
        cfg, feats = self.cfg, self.cfg.features
        for win in self._windows(batch):
            L = max(len(w) for _, _, w in win) + 1
            t = torch.full((len(win), L), self.bos, dtype=torch.long)
            for r, (_, _, w) in enumerate(win):
                t[r, 1 : 1 + len(w)] = torch.tensor(w, dtype=torch.long)
            _, cache = self.model.run_with_cache(t.to(self.dev), names=[self.hook], stop_early=True)
            x = cache[self.hook][:, 1:]  # drop BOS
            a = self.sae.encode_subset(x.reshape(-1, x.shape[-1]).to(self.sae.W_dec.dtype), self.feats).view(
                len(win), L - 1, -1
            )
            a[~self.rule.mask(t)[:, 1:].to(a.device)] = float("-inf")  # BOS or separator tokens inside a document
            for r, (_, _, w) in enumerate(win):  # padding never counts
                a[r, len(w) :] = float("-inf")
            mx = a.amax((0, 1)).tolist()
            for k, f in enumerate(feats):
                if mx[k] > self.summary.max_activation.get(f, float("-inf")):
                    self.summary.max_activation[f] = mx[k]
            hits = (a > cfg.threshold).nonzero().tolist()
            if not hits:
                continue
            vals = a[a > cfg.threshold].tolist()
            seen = set()
            for (r, p, k), v in zip(hits, vals):
                d, off, _ = win[r]
                name, ids = batch[d]
                pos = off + p
                lo, hi = max(0, pos - cfg.context_tokens), min(len(ids), pos + cfg.context_tokens + 1)
                f = feats[k]
                self.summary.hits[f] += 1
                if (d, f) not in seen:
                    seen.add((d, f))
                    self.summary.docs_with_hits[f] += 1
                emit(
                    {
                        "document": name,
                        "feature": f,
                        "position": pos,
                        "token": self.tok.decode([ids[pos]]),
                        "activation": round(v, 5),
                        "context": self.tok.decode(ids[lo:pos])
                        + "⟦"
                        + self.tok.decode([ids[pos]])
                        + "⟧"
                        + self.tok.decode(ids[pos + 1 : hi]),
                    }
                )

    def run(self, docs: Iterable[tuple[str, str]], emit: Callable[[dict], None]) -> MonitorSummary:
        """Scan documents, calling `emit(hit)` for each activation above the threshold; returns the summary."""
        pending: list[tuple[str, str]] = []

        def flush():
            encs = self.tok.encode_batch([t for _, t in pending])
            batch = [(n, e.ids) for (n, _), e in zip(pending, encs)]
            self.summary.documents += len(batch)
            self.summary.tokens += sum(len(ids) for _, ids in batch)
            self._scan(batch, emit)
            pending.clear()

        for doc in docs:
            pending.append(doc)
            if len(pending) >= self.cfg.docs_per_batch:
                flush()
        if pending:
            flush()
        return self.summary


def monitor_files(
    model,
    sae,
    tokenizer,
    bos_id: int,
    paths: Iterable[str | Path],
    cfg: MonitorConfig,
    emit: Callable[[dict], None],
    hook: str | None = None,
    positions: Positions | int | None = None,
) -> dict:
    """Monitor documents read from files; bad inputs stop the run or are listed in the summary (cfg.on_error)."""
    mon = Monitor(model, sae, tokenizer, bos_id, cfg, hook, positions)
    docs = iter_documents(paths, cfg.text_field, cfg.on_error, mon.summary.bad_inputs)
    return mon.run(docs, emit).to_dict()
