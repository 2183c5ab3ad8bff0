"""Token datasets: documents tokenised and packed into fixed-length contexts.

Every token keeps the document it came from and its position there, so any
activation vector leads back to its text. Each context starts with a BOS token
(`<|endoftext|>`), as SAELens's `prepend_bos` does.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from monoscope.data.builtin import manifest as builtin_manifest
from monoscope.data.corpus import domain_counts, load_corpus
from monoscope.data.fingerprint import corpus_fingerprint, tokenizer_sha256
from monoscope.data.labels import context_counts
from monoscope.data.positions import Positions
from monoscope.data.tokenizer import eos_id, load_tokenizer, train_tokenizer
from monoscope.errors import MonoscopeError
from monoscope.io import load_tensors, read_json, read_jsonl, save_tensors, write_json, write_text
from monoscope.stages import finish_stage, is_complete, open_stage, require_stage


@dataclass
class DataConfig:
    corpus: str = "builtin"
    vocab_size: int = 4096
    n_ctx: int = 128
    min_domain_share: float = 0.03  # small domains are repeated in training up to this share of tokens
    max_repeat: int = 50
    seed: int = 0
    text_field: str = "text"
    domain_field: str = "domain"
    builtin_scale: float = 1.0  # fraction of the built-in corpus's documents (per domain and split)
    tokenizer: str | None = None  # a tokenizer.json to reuse (a shipped model's) instead of training one


@dataclass
class TokenSplit:
    """Contexts `[n, n_ctx]` of token ids, with the document id and in-document position of each token (-1 for BOS)."""

    tokens: torch.Tensor
    doc: torch.Tensor
    pos: torch.Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]


class Dataset:
    """A built data folder: tokenizer, documents and packed train/val splits."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        stage = require_stage(self.folder, "data")  # other builders (data/hf.py) add their own keys
        self.config = DataConfig(**{k: v for k, v in stage.items() if k in DataConfig.__dataclass_fields__})
        self.meta = read_json(self.folder / "data.json", "data metadata")
        self.tokenizer: Tokenizer = load_tokenizer(self.folder / "tokenizer.json")
        self.bos_id = int(self.meta["bos_id"]) if self.meta.get("bos_id") is not None else eos_id(self.tokenizer)
        self._docs: list[dict] | None = None

    @property
    def docs(self) -> list[dict]:
        if self._docs is None:
            self._docs = read_jsonl(self.folder / "docs.jsonl")
        return self._docs

    @property
    def positions(self) -> Positions:
        """Which positions count (data/positions.py): not the leading BOS, not a BOS or separator token."""
        special = {self.bos_id, self.meta.get("sep_id", self.bos_id)} - {None}
        return Positions(tuple(sorted(int(i) for i in special)), bool(self.meta.get("prepend_bos", True)))

    def split(self, name: str) -> TokenSplit:
        if name not in ("train", "val"):
            raise MonoscopeError(f"unknown split {name!r}; expected 'train' or 'val'")
        t = load_tensors(self.folder / f"{name}.safetensors", f"{name} token file")
        return TokenSplit(t["tokens"].long(), t["doc"], t["pos"])

    def identity(self) -> dict:
        """What a model trained on this data records, and what a model asked to read it is checked against."""
        return {
            "folder": str(self.folder),
            "corpus": self.config.corpus,
            "corpus_fingerprint": self.meta.get("corpus_fingerprint"),
            "tokenizer_sha256": self.meta.get("tokenizer_sha256"),
            "tokenizer_from": self.meta.get("tokenizer_from"),
        }

    def domain_of(self, doc_ids: torch.Tensor) -> list[str]:
        names = [d["domain"] for d in self.docs]
        return ["bos" if int(i) < 0 else names[int(i)] for i in doc_ids.flatten()]

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_strs(self, ids) -> list[str]:
        return [self.tokenizer.decode([int(i)], skip_special_tokens=False) for i in ids]


def _pack(enc_ids: list[list[int]], doc_ids: list[int], n_ctx: int, bos: int) -> TokenSplit:
    """Concatenate documents separated by EOS and cut into contexts of [BOS] + (n_ctx - 1) tokens."""
    toks, docs, poss = [], [], []
    for ids, d in zip(enc_ids, doc_ids):
        n = len(ids)
        toks.append(np.asarray(ids + [bos], dtype=np.int32))
        docs.append(np.full(n + 1, d, dtype=np.int32))
        poss.append(np.arange(n + 1, dtype=np.int32))
    if not toks:
        z = torch.zeros(0, n_ctx, dtype=torch.int32)
        return TokenSplit(z, z.clone(), z.clone())
    flat_t, flat_d, flat_p = (np.concatenate(a) for a in (toks, docs, poss))
    body = n_ctx - 1
    n = len(flat_t) // body
    if n == 0:
        raise MonoscopeError(
            f"corpus split has {len(flat_t)} tokens, fewer than one context of {n_ctx}; add text or lower n_ctx"
        )

    def shape(a, fill):
        a = a[: n * body].reshape(n, body)
        return torch.from_numpy(np.concatenate([np.full((n, 1), fill, dtype=np.int32), a], axis=1))

    return TokenSplit(shape(flat_t, bos), shape(flat_d, -1), shape(flat_p, -1))


def build_dataset(out: Path | str, config: DataConfig | None = None, overwrite: bool = False) -> Dataset:
    """Corpus → tokenizer → packed splits, written to `out`. Reuses a finished folder with the same config."""
    config = config or DataConfig()
    out = Path(out)
    if not 0 < config.builtin_scale <= 1:
        raise MonoscopeError(f"builtin_scale must lie in (0, 1], got {config.builtin_scale}")
    if is_complete(out, "data", asdict(config)) and not overwrite:
        return Dataset(out)
    # read (and validate) the corpus and tokenizer before the folder is touched: bad input writes nothing
    docs = load_corpus(config.corpus, config.text_field, config.domain_field, config.builtin_scale)
    reused = load_tokenizer(config.tokenizer) if config.tokenizer else None
    open_stage(out, "data", asdict(config), overwrite)
    if reused is not None:
        tok = reused
    else:
        tok = train_tokenizer((d.text for d in docs if d.split == "train"), config.vocab_size)
    tok_json = tok.to_str()
    write_text(out / "tokenizer.json", tok_json)
    bos = eos_id(tok)
    encs = tok.encode_batch([d.text for d in docs])
    ids = [e.ids for e in encs]
    contexts = context_counts(docs, [e.offsets for e in encs], [d.split for d in docs])

    rng = random.Random(config.seed)
    train_idx = [i for i, d in enumerate(docs) if d.split == "train"]
    val_idx = [i for i, d in enumerate(docs) if d.split == "val"]
    # Repeat small domains so that each one is learned (the repeat factor is recorded).
    dom_tokens: dict[str, int] = {}
    for i in train_idx:
        dom_tokens[docs[i].domain] = dom_tokens.get(docs[i].domain, 0) + len(ids[i])
    total = sum(dom_tokens.values())
    repeats = {
        dom: max(1, min(config.max_repeat, math.ceil(config.min_domain_share * total / max(n, 1))))
        for dom, n in dom_tokens.items()
    }
    order = [i for i in train_idx for _ in range(repeats[docs[i].domain])]
    rng.shuffle(order)
    train = _pack([ids[i] for i in order], order, config.n_ctx, bos)
    rng.shuffle(val_idx)
    val = _pack([ids[i] for i in val_idx], val_idx, config.n_ctx, bos)

    for name, s in (("train", train), ("val", val)):
        save_tensors(out / f"{name}.safetensors", {"tokens": s.tokens, "doc": s.doc, "pos": s.pos})
    with open(out / "docs.jsonl.tmp", "w", encoding="utf-8") as fh:
        for i, d in enumerate(docs):
            fh.write(json.dumps({"id": i, **d.record(), "n_tokens": len(ids[i])}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    (out / "docs.jsonl.tmp").replace(out / "docs.jsonl")
    meta = {
        "vocab_size": tok.get_vocab_size(),
        "bos_id": bos,
        "n_ctx": config.n_ctx,
        "train_contexts": len(train),
        "val_contexts": len(val),
        "train_tokens": int(train.tokens.numel()),
        "val_tokens": int(val.tokens.numel()),
        "domains": domain_counts(docs),
        "contexts": contexts,
        "train_repeat": repeats,
        "corpus": config.corpus,
        "corpus_fingerprint": corpus_fingerprint(docs),
        "tokenizer_sha256": tokenizer_sha256(tok_json),
        "tokenizer_from": str(Path(config.tokenizer).resolve()) if config.tokenizer else None,
    }
    if config.corpus == "builtin":
        m = builtin_manifest()
        meta["corpus_sources"] = m["sources"]
        meta["corpus_snapshot"] = {k: m[k] for k in ("fingerprint", "versions", "command", "dna")}
    write_json(out / "data.json", meta)
    finish_stage(out)
    return Dataset(out)


def describe(meta: dict) -> str:
    """The per-context table `monoscope data` prints: tokens per token-level context and split."""
    rows = [("context", "train tokens", "val tokens")]
    rows += [(k, f"{v['train']:,}", f"{v['val']:,}") for k, v in meta.get("contexts", {}).items()]
    rows += [
        (f"domain:{k}", f"{v['docs'] - v['val_docs']:,} docs", f"{v['val_docs']:,} docs")
        for k, v in meta.get("domains", {}).items()
    ]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{a:<{w[0]}}  {b:>{w[1]}}  {c:>{w[2]}}" for a, b, c in rows]
    return "\n".join(lines[:1] + ["-" * len(lines[0])] + lines[1:]) + "\n"
