"""Which corpus and tokenizer a model was trained on, and the check that refuses a mismatch.

A model's `trained_on.json` records the sha256 of its tokenizer and of the corpus
documents it saw. Reading data through a model with another tokenizer gives
garbage silently, so it is refused; a model asked to read another corpus with
its own tokenizer (a user's text tokenised with `--tokenizer`) is allowed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from monoscope.errors import MonoscopeError

TRAINED_ON = "trained_on.json"


def serialise(docs) -> bytes:
    """The canonical bytes of a document list: one JSON record per line, keys sorted."""
    return b"".join(
        json.dumps(d.record(), ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass") + b"\n"
        for d in docs
    )


def corpus_fingerprint(docs) -> str:
    """Of what a model sees (each document's text, domain, source and split), not of the span labels on it:
    relabelling spans changes what is measured, not what a model was trained on."""
    h = hashlib.sha256()
    for d in docs:
        rec = {"text": d.text, "domain": d.domain, "source": d.source, "split": d.split}
        h.update(json.dumps(rec, ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def tokenizer_sha256(tokenizer_json: str) -> str:
    """Of the tokenizer's canonical JSON (key order and whitespace do not count)."""
    obj = json.loads(tokenizer_json)
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def read_trained_on(model_folder: Path | str) -> dict | None:
    path = Path(model_folder) / TRAINED_ON
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def check_model_reads(model_folder: Path | str, identity: dict) -> None:
    """Refuse a model whose tokenizer differs from the data's; `identity` is `Dataset.identity()`."""
    rec = read_trained_on(model_folder)
    if rec is None or not identity:
        return
    if rec.get("tokenizer_sha256") and identity.get("tokenizer_sha256") != rec["tokenizer_sha256"]:
        raise MonoscopeError(
            f"model {model_folder} was trained with another tokenizer than data {identity.get('folder')}; "
            f"rebuild the data with its tokenizer: monoscope data --tokenizer {Path(model_folder) / 'tokenizer.json'}"
        )
    same_corpus = identity.get("corpus_fingerprint") == rec.get("corpus_fingerprint")
    if not same_corpus and identity.get("tokenizer_from") is None and rec.get("corpus") == identity.get("corpus"):
        raise MonoscopeError(
            f"model {model_folder} was trained on corpus {rec.get('corpus_fingerprint', '?')[:12]}, "
            f"data {identity.get('folder')} holds {str(identity.get('corpus_fingerprint'))[:12]}; "
            "rebuild the data (monoscope data --out DIR) with this monoscope version"
        )
