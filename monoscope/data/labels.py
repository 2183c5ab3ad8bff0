"""Token-level labels: the script a token's characters are written in, and the span label it sits in.

Both are read per token from its document's text and spans (the tokenizer's
character offsets), so a byte-level piece of an Arabic letter still reads as
Arabic, and a docstring's words inside Python code read as prose.
"""

from __future__ import annotations

import bisect

import numpy as np

# Unicode blocks per script
SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "arabic": ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "hebrew": ((0x0590, 0x05FF), (0xFB1D, 0xFB4F)),
    "cyrillic": ((0x0400, 0x04FF), (0x0500, 0x052F)),
    "greek": ((0x0370, 0x03FF), (0x1F00, 0x1FFF)),
    "cjk": (
        (0x3000, 0x303F),  # CJK punctuation
        (0x3040, 0x30FF),  # kana
        (0x3400, 0x4DBF),  # ideographs, extension A
        (0x4E00, 0x9FFF),  # unified ideographs
        (0xAC00, 0xD7AF),  # hangul syllables
        (0xF900, 0xFAFF),  # compatibility ideographs
        (0xFF00, 0xFFEF),  # fullwidth and halfwidth forms
    ),
    "devanagari": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
}
SCRIPT_THRESHOLD = 0.5  # in a script: more than half the token's non-space characters


def in_script(char: str, script: str) -> bool:
    """Is this one character inside `script`'s blocks? (What steering's judges and script_shares both ask.)"""
    c = ord(char)
    return any(a <= c <= b for a, b in SCRIPTS[script])


def codepoints(script: str) -> np.ndarray:
    return np.concatenate([np.arange(a, b + 1) for a, b in SCRIPTS[script]])


def script_shares(text: str, start: np.ndarray, end: np.ndarray, scripts=tuple(SCRIPTS)) -> dict[str, np.ndarray]:
    """Per token (character range of `text`): the share of its non-space characters in each script."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    space = np.array([c.isspace() for c in text], dtype=bool) if text else np.zeros(0, bool)
    nonspace = np.concatenate([[0], np.cumsum(~space)])
    n = nonspace[end] - nonspace[start]
    out = {}
    for s in scripts:
        inside = np.zeros(len(cps), dtype=bool)
        for a, b in SCRIPTS[s]:
            inside |= (cps >= a) & (cps <= b)
        c = np.concatenate([[0], np.cumsum(inside & ~space)])
        out[s] = np.where(n > 0, (c[end] - c[start]) / np.maximum(n, 1), 0.0)
    return out


def span_labels(spans: list | None, start: np.ndarray, end: np.ndarray) -> list[str]:
    """The label of each token's last character ('' without spans or for a token covering no text)."""
    if not spans:
        return [""] * len(start)
    starts = [s for s, _, _ in spans]
    out = []
    for a, b in zip(start, end):
        if b <= a:
            out.append("")
            continue
        i = bisect.bisect_right(starts, int(b) - 1) - 1
        out.append(spans[i][2] if i >= 0 and spans[i][0] <= b - 1 < spans[i][1] else "")
    return out


def context_counts(docs, offsets, splits) -> dict[str, dict[str, int]]:
    """Tokens per token-level context and split: {"script:arabic": {"train": n, "val": m}, "span:python": ...}.

    `offsets[i]` are the tokenizer's character offsets of document i; counts are per document occurrence
    (before training repeats).
    """
    out: dict[str, dict[str, int]] = {}
    for d, off, split in zip(docs, offsets, splits):
        if not off:
            continue
        start = np.array([a for a, _ in off], dtype=np.int64)
        end = np.array([b for _, b in off], dtype=np.int64)
        for s, share in script_shares(d.text, start, end).items():
            k = int((share > SCRIPT_THRESHOLD).sum())
            if k:
                c = out.setdefault(f"script:{s}", {"train": 0, "val": 0})
                c[split] += k
        for lab in span_labels(d.spans, start, end):
            if lab and lab not in ("other", "intl"):
                c = out.setdefault(f"span:{lab}", {"train": 0, "val": 0})
                c[split] += 1
    return dict(sorted(out.items()))
