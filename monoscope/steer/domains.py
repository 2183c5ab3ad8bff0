"""Domains of text: judge generated tokens (is this token CJK? base64?) and find each domain's feature.

A token is judged by the characters its bytes overlap, so a CJK character
split across two byte-level BPE tokens counts for both. Judges:
- cjk: every non-space character in a CJK block of data/labels.SCRIPTS (the blocks the analysis's script
  contexts use: ideographs, kana, hangul, CJK punctuation, fullwidth forms);
- hex: inside a run of >= 8 characters of [0-9a-fA-F];
- base64: inside a run of >= 16 characters of [A-Za-z0-9+/=] that mixes digits or '+/' with letters.
The domain feature is the one whose activations best separate the domain's
tokens from the rest (Cohen's d on a split); its precision and recall are the
features' own (monoscope.features.contexts.rates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from monoscope.data.labels import in_script
from monoscope.errors import MonoscopeError

_HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/=]{16,}")
JUDGED = ("cjk", "hex", "base64")


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte<->unicode table, which byte-level BPE token strings are written in."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def token_bytes(tokenizer, ids) -> list[bytes]:
    """Raw bytes of each token id (special tokens give b'')."""
    dec = _byte_decoder()
    out = []
    for i in ids:
        s = tokenizer.id_to_token(int(i)) or ""
        out.append(bytes(dec[c] for c in s) if all(c in dec for c in s) and not s.startswith("<|") else b"")
    return out


def show_token(tokenizer, i: int) -> str:
    """A token as readable text; a token holding part of a UTF-8 character shows its bytes (e.g. '<e4 b8>')."""
    s = tokenizer.decode([int(i)], skip_special_tokens=False)
    if "\ufffd" not in s:
        return s
    b = token_bytes(tokenizer, [i])[0]
    return "<" + " ".join(f"{x:02x}" for x in b) + ">" if b else s


def char_mask(text: str, domain: str) -> list[bool]:
    """Per character: does it belong to `domain`?"""
    if domain == "cjk":
        return [in_script(c, "cjk") for c in text]
    mask = [False] * len(text)
    if domain == "hex":
        runs = _HEX_RUN.finditer(text)
    elif domain == "base64":
        runs = (
            m for m in _B64_RUN.finditer(text) if re.search(r"[0-9+/]", m.group()) and re.search(r"[A-Za-z]", m.group())
        )
    else:
        raise MonoscopeError(f"no judge for domain {domain!r}; judged domains: {', '.join(JUDGED)}")
    for m in runs:
        mask[m.start() : m.end()] = [True] * (m.end() - m.start())
    return mask


def tokens_in_domain(tokenizer, ids, domain: str) -> list[bool]:
    """Per token: True when it overlaps at least one non-space character and all of them are in `domain`."""
    tb = token_bytes(tokenizer, ids)
    data = b"".join(tb)
    # character spans over the byte string (invalid bytes become one replacement character each)
    chars, spans, k = [], [], 0
    while k < len(data):
        b = data[k]
        n = 1 if b < 0x80 else 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4 if b >> 3 == 0b11110 else 1
        piece = data[k : k + n].decode("utf-8", errors="replace")
        if len(piece) != 1:  # truncated or invalid sequence: one byte, one replacement char
            n, piece = 1, "\ufffd"
        chars.append(piece)
        spans.append((k, k + n))
        k += n
    mask = char_mask("".join(chars), domain)
    out, start, ci = [], 0, 0
    for b in tb:
        end = start + len(b)
        while ci < len(spans) and spans[ci][1] <= start:
            ci += 1
        j, judged = ci, []
        while j < len(spans) and spans[j][0] < end:
            if not chars[j].isspace():
                judged.append(mask[j])
            j += 1
        out.append(bool(judged) and all(judged))
        start = end
    return out


@dataclass
class DomainFeature:
    domain: str
    feature: int
    cohen_d: float
    precision: float
    recall: float
    tokens: int


def find_domain_features(
    model,
    sae,
    hook: str,
    dataset,
    split: str = "val",
    n_contexts: int = 2000,
    batch_contexts: int = 32,
    progress: bool = False,
) -> dict[str, DomainFeature]:
    """For every domain label of the dataset, the feature with the largest Cohen's d (in-domain vs other tokens),
    by default on held-out tokens."""
    from monoscope.steer.scan import domain_separation

    s = dataset.split(split)
    if len(s) == 0:
        raise MonoscopeError(f"the {split} split is empty")
    tokens, docs = s.tokens[:n_contexts], s.doc[:n_contexts]
    names = [d["domain"] for d in dataset.docs]

    def label(i, t):
        d = docs[i : i + t.shape[0]].flatten().tolist()
        return ["bos" if j < 0 else names[j] for j in d]

    stats = domain_separation(model, sae, hook, tokens, label, dataset.positions, batch_contexts, progress)
    out = {}
    for dom, st in sorted(stats.items()):
        if dom == "bos":
            continue
        i = int(st["cohen_d"].argmax())
        out[dom] = DomainFeature(
            dom, i, float(st["cohen_d"][i]), float(st["precision"][i]), float(st["recall"][i]), st["tokens"]
        )
    return out
