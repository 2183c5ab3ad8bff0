import json

import pytest

from monoscope.data.corpus import DOMAINS, Document, assign_splits, builtin_corpus, load_corpus
from monoscope.errors import MonoscopeError


@pytest.fixture(scope="module")
def small_builtin():
    return builtin_corpus({d: 20_000 for d in DOMAINS})


def test_builtin_corpus_has_every_domain_with_real_text(small_builtin):
    by = {}
    for d in small_builtin:
        by.setdefault(d.domain, []).append(d)
    assert set(by) == set(DOMAINS)
    assert any("def " in d.text for d in by["python"])
    assert all(
        set(d.text.strip()) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n")
        for d in by["base64"]
    )
    assert all(set(d.text.strip()) <= set("0123456789abcdef\n") for d in by["hex"])
    assert any(any("\u4e00" <= c <= "\u9fff" for c in d.text) for d in by["cjk"])
    assert any("<html" in d.text.lower() or "<p>" in d.text.lower() for d in by["html"])


def test_split_is_deterministic_and_every_domain_validates(small_builtin):
    again = builtin_corpus({d: 20_000 for d in DOMAINS})
    assert [(d.source, d.split) for d in small_builtin] == [(d.source, d.split) for d in again]
    for dom in DOMAINS:
        docs = [d for d in small_builtin if d.domain == dom]
        if len(docs) >= 2:
            assert {d.split for d in docs} == {"train", "val"}, dom


def test_folder_corpus_replaces_invalid_utf8(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hello \xff\xfe world\n" * 3)
    (tmp_path / "b.md").write_text("# title\nsome text\n")
    docs = load_corpus(str(tmp_path))
    assert {d.domain for d in docs} == {"txt", "md"}
    assert "\ufffd" in next(d.text for d in docs if d.domain == "txt")


def test_jsonl_corpus_and_missing_field(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(json.dumps({"body": f"doc {i}", "domain": "x"}) for i in range(5)))
    docs = load_corpus(str(p), text_field="body")
    assert len(docs) == 5 and docs[0].domain == "x"
    with pytest.raises(MonoscopeError, match="text-field"):
        load_corpus(str(p))


def test_empty_and_unmatched_corpora_are_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("   \n")
    with pytest.raises(MonoscopeError, match="empty"):
        load_corpus(str(tmp_path))
    with pytest.raises(MonoscopeError, match="matched no files"):
        load_corpus(str(tmp_path / "nothing*.txt"))


def test_assign_splits_keeps_a_train_doc(small_builtin):
    docs = assign_splits(small_builtin[:2], val_percent=100)
    assert {d.split for d in docs} == {"train", "val"}


def test_prose_never_repeats_the_python_domain():
    """Docstrings of a module the python domain took would put the same text under two labels (and across splits)."""
    docs = builtin_corpus({"python": 60_000, "prose": 800_000})
    py = {d.source.rsplit(":", 1)[0] for d in docs if d.domain == "python"}
    doc_modules = {d.source.split("#")[0] for d in docs if d.domain == "prose" and "#docstrings" in d.source}
    assert py and doc_modules, "the budget must reach past the pydoc topics into docstrings"
    assert not py & doc_modules


def test_small_domain_keeps_several_validation_docs():
    docs = [Document(f"text {i}", "tiny", f"tiny/{i}") for i in range(15)] + [
        Document(f"text {i}", "big", f"big/{i}") for i in range(400)
    ]
    assign_splits(docs)
    tiny_val = [d for d in docs if d.domain == "tiny" and d.split == "val"]
    assert len(tiny_val) == 3
    two = assign_splits([Document("a", "pair", "p/0"), Document("b", "pair", "p/1")])
    assert sorted(d.split for d in two) == ["train", "val"]


def test_builtin_corpus_keeps_each_text_once(small_builtin):
    texts = [d.text for d in small_builtin]
    assert len(texts) == len(set(texts))
    cjk = [d for d in small_builtin if d.domain == "cjk"]
    assert len(cjk) >= 5  # the distinct CJK texts survive; their copies in other encodings do not
