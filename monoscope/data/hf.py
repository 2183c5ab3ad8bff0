"""Corpora through Hugging Face `datasets`, tokenised with a model's own tokenizer.

A source is a local file or folder (json/jsonl, csv, parquet, txt/md: one
document per text file), a glob, or a hub dataset name where the hub is
reachable. Documents are packed into fixed-length contexts as SAELens does:
with `prepend_bos` each context is [BOS] + (n_ctx - 1) tokens, documents are
separated by the tokenizer's EOS/SEP token, and both facts are recorded in
`data.json` so harvests and SAEs can carry them into their metadata. The
output is an ordinary data folder that `monoscope.data.Dataset` opens.
"""

from __future__ import annotations

import glob as globmod
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from monoscope.data.dataset import Dataset
from monoscope.errors import MonoscopeError
from monoscope.io import refuse_remote_code, save_tensors, write_json, write_text
from monoscope.stages import finish_stage, open_stage

BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text", ".md": "text"}


@dataclass
class HFDataConfig:
    source: str
    tokenizer: str  # model folder (or hub id) whose tokenizer the subject model uses
    text_column: str = "text"
    domain_column: str = ""
    split: str = "train"  # split of a hub dataset
    subset: str = ""  # hub dataset configuration name
    n_ctx: int = 128
    prepend_bos: bool = True
    max_tokens: int = 0  # 0 = the whole source
    val_fraction: float = 0.05
    seed: int = 0

    def __post_init__(self):
        if self.n_ctx < 2:
            raise MonoscopeError(f"n_ctx must be at least 2, got {self.n_ctx}")
        if not 0 <= self.val_fraction < 1:
            raise MonoscopeError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")


def _files(source: str) -> list[Path]:
    p = Path(source)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in BUILDERS)
    elif p.exists():
        files = [p]
    else:
        files = sorted(Path(f) for f in globmod.glob(source, recursive=True))
    return files


def load_table(source: str, split: str = "train", subset: str = ""):
    """A `datasets.Dataset` from local files (one builder per extension) or the hub."""
    try:
        import datasets
    except ImportError as e:
        raise MonoscopeError(f"Hugging Face datasets are needed: pip install 'monoscope[hf]' ({e})") from None
    datasets.disable_progress_bars()
    files = _files(source)
    if files:
        kinds = {BUILDERS.get(f.suffix.lower()) for f in files}
        if None in kinds or len(kinds) != 1:
            raise MonoscopeError(
                f"{source}: expected files of one kind among {', '.join(BUILDERS)}, "
                f"got {sorted({f.suffix for f in files})}"
            )
        kind = kinds.pop()
        extra = {"sample_by": "document"} if kind == "text" else {}
        try:
            return datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train", **extra)
        except Exception as e:  # datasets raises many types for unreadable files
            raise MonoscopeError(
                f"cannot read {source} as {kind}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            ) from None
    if Path(source).suffix.lower() in BUILDERS or source.startswith(("/", ".")):
        raise MonoscopeError(f"corpus {source} does not exist")
    try:
        return datasets.load_dataset(source, subset or None, split=split)
    except Exception as e:
        raise MonoscopeError(
            f"cannot load hub dataset {source!r} (split {split!r}): "
            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None


def load_hf_tokenizer(name: str):
    try:
        import transformers
    except ImportError as e:
        raise MonoscopeError(f"Hugging Face tokenizers need transformers: pip install 'monoscope[hf]' ({e})") from None
    refuse_remote_code(name)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise MonoscopeError(f"cannot load a tokenizer from {name}: {str(e).splitlines()[0]}") from None
    if not getattr(tok, "is_fast", False):
        raise MonoscopeError(
            f"the tokenizer of {name} is not a fast (tokenizers) tokenizer; monoscope stores tokenizer.json"
        )
    return tok


def special_ids(tok) -> tuple[int | None, int | None]:
    """(BOS, separator): BOS or CLS for the first, EOS or SEP between documents."""
    bos = next((i for i in (tok.bos_token_id, tok.cls_token_id, tok.eos_token_id) if i is not None), None)
    sep = next((i for i in (tok.eos_token_id, tok.sep_token_id, bos) if i is not None), None)
    return bos, sep


def whole_document_tokenizer(tok):
    """A copy of the model's `tokenizers` backend with truncation and padding switched off.

    A `tokenizer.json` may carry both (sentence-transformers models ship truncation to 128 and fixed padding to
    128); `encode_batch` honours them, which would cut every document to its first tokens and pack pad ids as
    text. Packing needs each document whole, so neither setting is kept, and the stored copy is clean too."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


class Packer:
    """Streams documents into contexts of n_ctx tokens, keeping (document, position) for every token."""

    def __init__(self, n_ctx: int, bos: int | None, sep: int | None, prepend_bos: bool):
        self.n_ctx, self.bos, self.sep, self.prepend = n_ctx, bos, sep, prepend_bos
        self.body = n_ctx - int(prepend_bos)
        self.buf: list[np.ndarray] = []
        self.have = 0
        self.rows: list[np.ndarray] = []

    def add(self, ids: list[int], doc: int) -> None:
        n = len(ids)
        tail = [self.sep] if self.sep is not None else []
        t = np.asarray(list(ids) + tail, dtype=np.int64)
        block = np.stack([t, np.full(len(t), doc), np.arange(len(t))], 1)
        self.buf.append(block)
        self.have += n + len(tail)
        while self.have >= self.body:
            flat = np.concatenate(self.buf)
            row = flat[: self.body]
            if self.prepend:
                row = np.concatenate([np.array([[self.bos, -1, -1]]), row])
            self.rows.append(row)
            self.buf, self.have = [flat[self.body :]], len(flat) - self.body

    def tokens(self) -> int:
        return len(self.rows) * self.n_ctx

    def split(self):
        from monoscope.data.dataset import TokenSplit

        if not self.rows:
            z = torch.zeros(0, self.n_ctx, dtype=torch.int32)
            return TokenSplit(z, z.clone(), z.clone())
        a = torch.from_numpy(np.stack(self.rows).astype(np.int32))
        return TokenSplit(a[..., 0], a[..., 1], a[..., 2])


def _rows(table, text_column: str, batch: int = 1000) -> Iterator[list[dict]]:
    for i in range(0, len(table), batch):
        chunk = table[i : i + batch]
        keys = list(chunk)
        yield [dict(zip(keys, vals)) for vals in zip(*chunk.values())]


def build_hf_dataset(out: Path | str, cfg: HFDataConfig, overwrite: bool = False, progress: bool = True) -> Dataset:
    """Source → model tokenizer → packed train/val contexts in a data folder `Dataset` opens."""
    out = Path(out)
    tok = load_hf_tokenizer(cfg.tokenizer)
    vocab = len(tok)
    stage = {
        **asdict(cfg),
        "builder": "hf",
        "corpus": cfg.source,
        "vocab_size": vocab,
        "text_field": cfg.text_column,
        "domain_field": cfg.domain_column or "domain",
    }
    if open_stage(out, "data", stage, overwrite):
        return Dataset(out)
    table = load_table(cfg.source, cfg.split, cfg.subset)
    if cfg.text_column not in table.column_names:
        raise MonoscopeError(
            f"dataset {cfg.source} has no column {cfg.text_column!r}; its columns: "
            f"{', '.join(table.column_names)} (pass --text-column)"
        )
    if cfg.domain_column and cfg.domain_column not in table.column_names:
        raise MonoscopeError(
            f"dataset {cfg.source} has no column {cfg.domain_column!r}; its columns: {', '.join(table.column_names)}"
        )
    bos, sep = special_ids(tok)
    if cfg.prepend_bos and bos is None:
        raise MonoscopeError(
            f"tokenizer {cfg.tokenizer} has no BOS, CLS or EOS token to prepend; pass --no-prepend-bos"
        )
    backend = whole_document_tokenizer(tok)
    packs = {"train": Packer(cfg.n_ctx, bos, sep, cfg.prepend_bos), "val": Packer(cfg.n_ctx, bos, sep, cfg.prepend_bos)}
    rng = np.random.default_rng(cfg.seed)
    domains: dict[str, int] = {}
    domain_tokens: dict[str, int] = {}
    doc_id = 0
    tmp = out / "docs.jsonl.tmp"
    bar = tqdm(total=cfg.max_tokens or None, desc="tokenise", unit="tok", unit_scale=True, disable=not progress)
    with open(tmp, "w", encoding="utf-8") as fh:
        for rows in _rows(table, cfg.text_column):
            texts = [str(r[cfg.text_column] or "") for r in rows]
            encs = backend.encode_batch(texts, add_special_tokens=False)
            for r, text, enc in zip(rows, texts, encs):
                if not enc.ids:
                    continue
                split = "val" if rng.random() < cfg.val_fraction else "train"
                dom = str(r[cfg.domain_column]) if cfg.domain_column else "text"
                domains[dom] = domains.get(dom, 0) + 1
                domain_tokens[dom] = domain_tokens.get(dom, 0) + len(enc.ids)
                before = packs["train"].tokens()
                packs[split].add(enc.ids, doc_id)
                bar.update(packs["train"].tokens() - before)
                fh.write(
                    json.dumps(
                        {
                            "id": doc_id,
                            "domain": dom,
                            "source": cfg.source,
                            "split": split,
                            "n_tokens": len(enc.ids),
                            "text": text,
                        }
                    )
                    + "\n"
                )
                doc_id += 1
            if cfg.max_tokens and packs["train"].tokens() >= cfg.max_tokens:
                break
    bar.close()
    tmp.replace(out / "docs.jsonl")
    train, val = packs["train"].split(), packs["val"].split()
    if len(train) == 0:
        raise MonoscopeError(f"{cfg.source} gave fewer than {cfg.n_ctx} training tokens; add text or lower --n-ctx")
    for name, s in (("train", train), ("val", val)):
        save_tensors(out / f"{name}.safetensors", {"tokens": s.tokens, "doc": s.doc, "pos": s.pos})
    write_text(out / "tokenizer.json", backend.to_str())
    write_json(
        out / "data.json",
        {
            "vocab_size": vocab,
            "bos_id": bos,
            "sep_id": sep,
            "n_ctx": cfg.n_ctx,
            "prepend_bos": cfg.prepend_bos,
            "context_size": cfg.n_ctx,
            "tokenizer": str(cfg.tokenizer),
            "source": cfg.source,
            "train_contexts": len(train),
            "val_contexts": len(val),
            "train_tokens": int(train.tokens.numel()),
            "val_tokens": int(val.tokens.numel()),
            "domains": domains,
            "domain_tokens": domain_tokens,
            "train_repeat": {},
        },
    )
    finish_stage(out)
    return Dataset(out)
