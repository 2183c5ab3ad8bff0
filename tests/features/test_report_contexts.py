"""Context predicates: LLR proxies, scripts, regexes, callables and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from monoscope.errors import MonoscopeError
from monoscope.features.contexts import (
    LLR_FLOOR,
    TokenTable,
    base64_proxy,
    callable_context,
    dna_proxy,
    domain_context,
    parse_context_spec,
    script_context,
)


def make_table(pieces: list[tuple[str, str]], vocab: int = 16) -> TokenTable:
    """One document per domain run; each piece is one token of the given domain."""
    text = "".join(p for p, _ in pieces)
    starts = np.cumsum([0] + [len(p) for p, _ in pieces[:-1]])
    n = len(pieces)
    return TokenTable(
        tokens=np.arange(n) % vocab,
        doc=np.zeros(n, int),
        pos=np.arange(n),
        row=np.zeros(n, int),
        col=np.arange(n),
        start=starts,
        end=starts + [len(p) for p, _ in pieces],
        domain=np.array([d for _, d in pieces], dtype=object),
        doc_texts={0: text},
        log_unigram=np.full(vocab, np.log(1 / 1000)),
    )


def test_base64_llr_matches_formula():
    t = make_table([("QUJD", "b"), ("a b", "p"), ("==", "b")])
    v = base64_proxy().values(t)
    assert v[0] == pytest.approx(4 * np.log(1 / 64) - np.log(1 / 1000))
    assert v[1] == LLR_FLOOR and v[2] == LLR_FLOOR  # a space and '=' are outside the alphabet
    assert base64_proxy().mask(v).tolist() == [False, False, False]  # 64^-4 < 1/1000: less likely than baseline
    short = make_table([("Q", "b")])
    assert base64_proxy().mask(base64_proxy().values(short)).tolist() == [True]  # 1/64 > 1/1000


def test_dna_and_script_and_domain():
    t = make_table([("ACGT", "x"), ("acgt", "x"), ("開発", "cjk"), ("a開", "cjk"), ("abc", "prose")])
    assert dna_proxy().mask(dna_proxy().values(t)).tolist() == [True, False, False, False, False]
    cjk = script_context("cjk")
    assert cjk.values(t).tolist() == [0, 0, 1, 0.5, 0]
    assert cjk.mask(cjk.values(t)).tolist() == [False, False, True, False, False]
    assert domain_context("prose").mask(domain_context("prose").values(t)).tolist() == [False] * 4 + [True]


def test_regex_context_marks_overlapping_tokens():
    t = make_table([("see ", "p"), ("http", "p"), ("://x", "p"), (" now", "p")])
    c = parse_context_spec(r"url=https?://\w+")
    assert c.name == "url"
    assert c.mask(c.values(t)).tolist() == [False, True, True, False]


def test_bad_regex_and_names_raise_one_line():
    with pytest.raises(MonoscopeError, match="does not compile"):
        parse_context_spec("bad=(unclosed")
    with pytest.raises(MonoscopeError, match="NAME=REGEX"):
        parse_context_spec("noequals")
    with pytest.raises(MonoscopeError, match="context name"):
        parse_context_spec("has space=x")
    with pytest.raises(MonoscopeError, match="unknown script"):
        script_context("klingon")


def test_callable_context():
    t = make_table([("Foo", "p"), ("bar", "p")])
    c = callable_context("capital", lambda s: s[:1].isupper())
    assert c.mask(c.values(t)).tolist() == [True, False]
