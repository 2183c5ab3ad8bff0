"""Hypothesised contexts: per-token predicates a feature can be tested against.

Each context gives every evaluation token a *proxy value* and says which tokens
are "in context" (value > threshold). As in Bricken et al. (2023), character
hypotheses use a log-likelihood ratio: log P(s | context) - log P(s), where
P(s | base64) = (1/64)^len(s) when every character of the token's text s is in
[A-Za-z0-9+/] (0 otherwise) and P(s) is the token's unigram frequency in the
training split. Scripts use the share of the token's characters inside their
Unicode blocks (data/labels.py); span labels (what the stretch of the document
the token sits in is: Python, a docstring, a tag), the built-in corpus's domain
labels and user regexes are 0/1.

A token's text is the span of its document that it covers (from the
tokenizer's offsets), so a byte-level piece of a CJK character still reads as
that character.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from monoscope.data.labels import SCRIPT_THRESHOLD, SCRIPTS, script_shares, span_labels
from monoscope.errors import MonoscopeError

LLR_FLOOR = -10.0  # log-ratio given to strings the hypothesis cannot produce (log 0)


@dataclass
class TokenTable:
    """The evaluation tokens: ids, where they come from, and the document text they cover."""

    tokens: np.ndarray  # [n] token ids
    doc: np.ndarray  # [n] document ids
    pos: np.ndarray  # [n] position in the document
    row: np.ndarray  # [n] context row in the split
    col: np.ndarray  # [n] position in the context
    start: np.ndarray  # [n] character offsets in the document
    end: np.ndarray
    domain: np.ndarray  # [n] domain label (str)
    doc_texts: dict[int, str]
    log_unigram: np.ndarray  # [vocab] log P(token) on the training split
    label: np.ndarray | None = None  # [n] span label of the token's last character ('' where the corpus has none)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def text(self) -> list[str]:
        if not hasattr(self, "_text"):
            self._text = [self.doc_texts[int(d)][s:e] for d, s, e in zip(self.doc, self.start, self.end)]
        return self._text

    def snippet(self, i: int, before: int = 40, after: int = 20) -> tuple[str, str, str]:
        """(left context, token text, right context) of token i, from its document."""
        t = self.doc_texts[int(self.doc[i])]
        s, e = int(self.start[i]), int(self.end[i])
        return t[max(0, s - before) : s], t[s:e], t[e : e + after]


def build_token_table(
    dataset, tokens: np.ndarray, doc: np.ndarray, pos: np.ndarray, row: np.ndarray, col: np.ndarray
) -> TokenTable:
    """Attach document text spans and domains to tokens taken from a packed split."""
    docs = dataset.docs
    doc_texts: dict[int, str] = {}
    offsets: dict[int, list[tuple[int, int]]] = {}
    start = np.zeros(len(tokens), dtype=np.int64)
    end = np.zeros(len(tokens), dtype=np.int64)
    for d in np.unique(doc):
        d = int(d)
        text = docs[d]["text"]
        doc_texts[d] = text
        offsets[d] = dataset.tokenizer.encode(text).offsets
    for i, (d, p) in enumerate(zip(doc, pos)):
        off = offsets[int(d)]
        if 0 <= p < len(off):
            start[i], end[i] = off[int(p)]
        else:  # the separator after a document covers no text
            start[i] = end[i] = len(doc_texts[int(d)])
    names = np.array([x["domain"] for x in docs], dtype=object)
    label = np.full(len(tokens), "", dtype=object)
    for d in np.unique(doc):
        at = np.flatnonzero(doc == d)
        label[at] = span_labels(docs[int(d)].get("spans"), start[at], end[at])
    return TokenTable(tokens, doc, pos, row, col, start, end, names[doc], doc_texts, unigram_log_probs(dataset), label)


_UNIGRAM_CACHE: dict[str, np.ndarray] = {}


def unigram_log_probs(dataset) -> np.ndarray:
    """log P(token) over the training split (add-one smoothed, BOS excluded)."""
    key = str(dataset.folder.resolve())
    if key not in _UNIGRAM_CACHE:
        t = dataset.split("train").tokens.flatten().numpy()
        counts = np.bincount(t[t != dataset.bos_id], minlength=dataset.meta["vocab_size"]).astype(np.float64) + 1.0
        _UNIGRAM_CACHE[key] = np.log(counts / counts.sum())
    return _UNIGRAM_CACHE[key]


@dataclass
class Context:
    """A named predicate: `values(table)` gives one proxy value per token; in context means value > threshold."""

    name: str
    kind: str  # llr | script | domain | regex | callable
    values_fn: Callable[[TokenTable], np.ndarray]
    threshold: float = 0.0
    description: str = ""
    bins: Sequence[float] = field(default_factory=lambda: (0.5,))  # proxy-value edges for stacked plots

    def values(self, table: TokenTable) -> np.ndarray:
        v = np.asarray(self.values_fn(table), dtype=np.float64)
        if v.shape != (len(table),):
            raise MonoscopeError(f"context {self.name!r} returned {v.shape} values for {len(table)} tokens")
        return v

    def mask(self, values: np.ndarray) -> np.ndarray:
        return values > self.threshold

    def bin_labels(self) -> list[str]:
        e = list(self.bins)
        return [f"proxy ≤ {e[0]:g}"] + [f"{a:g} < proxy ≤ {b:g}" for a, b in zip(e, e[1:])] + [f"proxy > {e[-1]:g}"]

    def binned(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.bins), values, side="left")


# ---- log-likelihood-ratio proxies -------------------------------------------------------------
def _alphabet_llr(name: str, alphabet: str, description: str) -> Context:
    allowed = set(alphabet)
    logp = math.log(1.0 / len(allowed))

    def fn(t: TokenTable) -> np.ndarray:
        out = np.empty(len(t))
        for i, s in enumerate(t.text):
            ok = bool(s) and all(c in allowed for c in s)
            out[i] = len(s) * logp - t.log_unigram[t.tokens[i]] if ok else -np.inf
        return np.maximum(out, LLR_FLOOR)

    return Context(name, "llr", fn, 0.0, description, bins=(LLR_FLOOR + 1e-9, 0.0, 2.0, 4.0))


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def base64_proxy() -> Context:
    return _alphabet_llr(
        "base64_proxy", B64, "LLR: 1/64 per character of [A-Za-z0-9+/] vs the token's unigram frequency"
    )


def hex_proxy() -> Context:
    return _alphabet_llr(
        "hex_proxy", "0123456789abcdef", "LLR: 1/16 per character of [0-9a-f] vs the token's unigram frequency"
    )


def dna_proxy() -> Context:
    return _alphabet_llr("dna_proxy", "ACGT", "LLR: 1/4 per character of A/C/G/T vs the token's unigram frequency")


# ---- scripts by Unicode block, span labels ---------------------------------------------------------
def script_context(script: str) -> Context:
    """Share of the token's non-space characters inside the script's Unicode blocks; in context above one half."""
    if script not in SCRIPTS:
        raise MonoscopeError(f"unknown script {script!r}; known: {', '.join(SCRIPTS)}")

    def fn(t: TokenTable) -> np.ndarray:
        out = np.zeros(len(t))
        for d in np.unique(t.doc):
            at = np.flatnonzero(t.doc == d)
            out[at] = script_shares(t.doc_texts[int(d)], t.start[at], t.end[at], (script,))[script]
        return out

    return Context(
        f"script:{script}",
        "script",
        fn,
        SCRIPT_THRESHOLD,
        f"share of characters in the {script} Unicode blocks (> {SCRIPT_THRESHOLD})",
        bins=(0.0, SCRIPT_THRESHOLD),
    )


def span_context(label: str) -> Context:
    """Tokens whose last character lies in a span labelled `label` (a docstring inside code is prose)."""

    def fn(t: TokenTable) -> np.ndarray:
        if t.label is None:
            return np.zeros(len(t))
        return (t.label == label).astype(np.float64)

    return Context(f"span:{label}", "span", fn, 0.5, f"tokens inside spans labelled {label!r}")


TOKEN_KINDS = ("script", "span")  # the token-level contexts the seed names; the goal is judged on them


# ---- labels, regexes, callables -----------------------------------------------------------------
def domain_context(label: str) -> Context:
    return Context(
        f"domain:{label}",
        "domain",
        lambda t: (t.domain == label).astype(np.float64),
        0.5,
        f"tokens of documents labelled {label!r}",
    )


def regex_context(name: str, pattern: str) -> Context:
    """In context: tokens whose text overlaps a match of `pattern` in their document."""
    check_name(name)
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise MonoscopeError(f"context {name!r}: regex {pattern!r} does not compile ({e})") from None

    def fn(t: TokenTable) -> np.ndarray:
        out = np.zeros(len(t))
        spans = {
            d: [(m.start(), m.end()) for m in rx.finditer(text) if m.end() > m.start()]
            for d, text in t.doc_texts.items()
        }
        for i, (d, s, e) in enumerate(zip(t.doc, t.start, t.end)):
            out[i] = any(a < e and s < b for a, b in spans[int(d)]) if e > s else 0.0
        return out

    return Context(name, "regex", fn, 0.5, f"tokens overlapping a match of /{pattern}/")


def callable_context(name: str, fn: Callable[[str], float], threshold: float = 0.5, description: str = "") -> Context:
    """A Python predicate on the token's text (bool or score); in context where its value > threshold."""
    check_name(name)
    return Context(
        name,
        "callable",
        lambda t: np.array([float(fn(s)) for s in t.text]),
        threshold,
        description or f"user predicate {getattr(fn, '__name__', 'fn')}",
    )


def check_name(name: str) -> None:
    if not re.fullmatch(r"[\w.:-]+", name or ""):
        raise MonoscopeError(f"context name {name!r} must be letters, digits, '_', '.', ':' or '-'")


def parse_context_spec(spec: str) -> Context:
    """`name=REGEX` as given on the command line."""
    if "=" not in spec:
        raise MonoscopeError(f"--context {spec!r}: expected NAME=REGEX")
    name, pattern = spec.split("=", 1)
    return regex_context(name.strip(), pattern)


def token_contexts(counts: dict | None = None) -> list[Context]:
    """Scripts and span labels: those the data counted (data.json "contexts"), or every script without counts."""
    if counts is None:
        return [script_context(s) for s in SCRIPTS]
    out = []
    for name in counts:
        kind, _, what = name.partition(":")
        if kind == "script" and what in SCRIPTS:
            out.append(script_context(what))
        elif kind == "span":
            out.append(span_context(what))
    return out


def default_contexts(domains: Sequence[str] = (), counts: dict | None = None) -> list[Context]:
    """The library: base64/hex/DNA proxies, the token-level contexts, and one context per domain label present."""
    out = [base64_proxy(), hex_proxy(), dna_proxy()] + token_contexts(counts)
    out += [domain_context(d) for d in sorted(set(domains)) if d != "bos"]
    return out


def rates(n_in_fire, n_fire, n_in) -> dict:
    """The one definition of specificity (precision: share of a unit's firings inside the context), sensitivity
    (recall: share of the context's tokens it fires on) and their F1, from counts (arrays broadcast); 0 where a
    count is zero."""
    tp, nf, ni = (np.asarray(x, dtype=np.float64) for x in (n_in_fire, n_fire, n_in))
    spec = np.divide(tp, nf, out=np.zeros(np.broadcast(tp, nf).shape), where=nf > 0)
    sens = np.divide(tp, ni, out=np.zeros(np.broadcast(tp, ni).shape), where=ni > 0)
    f1 = np.divide(2 * spec * sens, spec + sens, out=np.zeros_like(spec), where=(spec + sens) > 0)
    return {"specificity": spec, "sensitivity": sens, "f1": f1}


def fire_rates(fire: np.ndarray, mask: np.ndarray) -> dict:
    """Specificity (share of firings in the context), sensitivity (share of the context fired on), their F1."""
    n_fire = int(fire.sum())
    r = rates(int((fire & mask).sum()), n_fire, int(mask.sum()))
    return {**{k: float(v) for k, v in r.items()}, "n_fire": n_fire}
