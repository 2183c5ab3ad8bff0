"""Span labels: what each stretch of a document is, so a token's label says what the token itself is.

A span is `(start, end, label)` in characters. A docstring inside Python code is
prose, a tag inside a page is markup, the sequence lines of a FASTA record are
DNA. A token's label is the label of its last character (`data/labels.py`).
"""

from __future__ import annotations

import io
import re
import tokenize

LABELS = ("python", "cpp", "prose", "markup", "base64", "hex", "dna", "intl", "other")

Span = tuple[int, int, str]


def merge(spans: list[Span], length: int, fill: str) -> list[Span]:
    """Sorted, non-overlapping spans covering [0, length): gaps take `fill`, neighbours with one label join."""
    out: list[list] = []
    pos = 0
    for s, e, lab in sorted(spans):
        s = max(s, pos)
        if e <= s:
            continue
        if s > pos:
            out.append([pos, s, fill])
        out.append([s, e, lab])
        pos = e
    if pos < length:
        out.append([pos, length, fill])
    joined: list[list] = []
    for sp in out:
        if joined and joined[-1][2] == sp[2] and joined[-1][1] == sp[0]:
            joined[-1][1] = sp[1]
        else:
            joined.append(sp)
    return [tuple(x) for x in joined]


def whole(text: str, label: str) -> list[Span]:
    return [(0, len(text), label)] if text else []


def _words(s: str) -> int:
    return len(re.findall(r"[A-Za-z]{2,}", s))


def python_spans(text: str) -> list[Span]:
    """Comments, docstrings and string literals of three or more words are prose; the rest is Python."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def at(rc):
        return starts[rc[0] - 1] + rc[1]

    spans: list[Span] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and _words(tok.string) >= 3):
                s, e = at(tok.start), at(tok.end)
                # the quotes and the '#' stay code; what they hold is prose
                body = re.match(r"^(#+\s*|[rbufRBUF]*('''|\"\"\"|'|\"))", tok.string)
                s += len(body.group(0)) if body else 0
                q = body.group(2) if body and body.group(2) else ""
                spans.append((s, e - len(q), "prose"))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return merge(spans, len(text), "python")


_C_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def c_spans(text: str) -> list[Span]:
    """Comments are prose (their markers stay code); the rest is C++."""
    spans = []
    for m in _C_COMMENT.finditer(text):
        body = m.group(0)
        lead = len(re.match(r"^(//+|/\*+)\s*", body).group(0))
        tail = 2 if body.startswith("/*") else 0
        if _words(body) >= 2:
            spans.append((m.start() + lead, m.end() - tail, "prose"))
    return merge(spans, len(text), "cpp")


_TAG = re.compile(r"<!--.*?-->|<[!?/]?[A-Za-z][^<>]*>|&#?\w+;|\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.S)
_RAW = re.compile(r"<(script|style)\b[^>]*>(.*?)</\1\s*>", re.S | re.I)


def markup_spans(text: str, text_label: str = "prose") -> list[Span]:
    """Tags, entities and template tags are markup; text between them of three or more words is `text_label`."""
    spans: list[Span] = []
    raw = [(m.start(2), m.end(2)) for m in _RAW.finditer(text)]
    for a, b in raw:
        spans.append((a, b, "other"))
    pos = 0
    for m in _TAG.finditer(text):
        if any(a <= m.start() < b for a, b in raw):
            continue
        gap = text[pos : m.start()]
        if _words(gap) >= 3 and not any(a <= pos < b for a, b in raw):
            lead = len(gap) - len(gap.lstrip())
            spans.append((pos + lead, m.start() - (len(gap) - len(gap.rstrip())), text_label))
        spans.append((m.start(), m.end(), "markup"))
        pos = m.end()
    gap = text[pos:]
    if _words(gap) >= 3:
        spans.append((pos, len(text), text_label))
    return merge(spans, len(text), "other")


_PROMPT = re.compile(r"^(\s*)(>>>|\.\.\.) ?(.*)$")


def doctest_spans(text: str) -> list[Span]:
    """Prose with interactive examples: lines after `>>>` / `...` prompts are Python."""
    spans: list[Span] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        m = _PROMPT.match(line.rstrip("\n"))
        if m:
            s = pos + m.start(3)
            spans.append((s, pos + len(line.rstrip("\n")), "python"))
        pos += len(line)
    return merge(spans, len(text), "prose")


def fasta_spans(text: str) -> list[Span]:
    """Header lines are other; sequence lines are DNA."""
    spans: list[Span] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        spans.append((pos, pos + len(line.rstrip("\n")), "other" if line.startswith(">") else "dna"))
        pos += len(line)
    return merge(spans, len(text), "other")
