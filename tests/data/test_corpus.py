import json

import numpy as np
import pytest

from monoscope.data.builtin import builtin_documents, manifest
from monoscope.data.builtin.spans import markup_spans, python_spans
from monoscope.data.corpus import Document, assign_splits, load_corpus
from monoscope.data.fingerprint import corpus_fingerprint
from monoscope.data.labels import SCRIPTS, script_shares, span_labels
from monoscope.errors import MonoscopeError
from monoscope.features.contexts import B64


@pytest.fixture(scope="module")
def small_builtin():
    return builtin_documents(0.05)


def test_builtin_corpus_holds_the_seeds_contexts_as_real_text(small_builtin):
    by = {}
    for d in small_builtin:
        by.setdefault(d.domain, []).append(d)
    assert {"python", "cpp", "prose", "html", "xml", "base64", "hex", "dna"} <= set(by)
    assert set(SCRIPTS) <= set(by)
    assert any("def " in d.text for d in by["python"])
    assert all(set(d.text.strip()) <= set(B64 + "=\n") for d in by["base64"])
    assert all(set(d.text.strip()) <= set("0123456789abcdef\n") for d in by["hex"])
    for script in SCRIPTS:
        whole = [script_shares(d.text, np.array([0]), np.array([len(d.text)]), (script,)) for d in by[script]]
        shares = [w[script][0] for w in whole]
        assert max(shares) > 0.3, script


def test_span_labels_say_what_each_stretch_is():
    code = 'def f(x):\n    """Return the square of x."""\n    # add one to it\n    return x * x\n'
    sp = python_spans(code)
    label = {code[s:e].strip(): lab for s, e, lab in sp}
    assert label["Return the square of x."] == "prose" and label["add one to it"] == "prose"
    assert any(lab == "python" and "return x * x" in code[s:e] for s, e, lab in sp)
    page = "<p class='a'>Hello there my friend</p>"
    mk = {page[s:e]: lab for s, e, lab in markup_spans(page)}
    assert mk["<p class='a'>"] == "markup" and mk["Hello there my friend"] == "prose"
    assert span_labels(sp, np.array([0]), np.array([3])) == ["python"]


def test_split_is_deterministic_and_every_context_validates(small_builtin):
    again = builtin_documents(0.05)
    assert [(d.source, d.split) for d in small_builtin] == [(d.source, d.split) for d in again]
    full = builtin_documents()
    for dom in {d.domain for d in full}:
        val = sum(len(d.text) for d in full if d.domain == dom and d.split == "val")
        assert val >= 12_000, dom


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


def test_small_domain_keeps_several_validation_docs():
    docs = [Document(f"text {i}", "tiny", f"tiny/{i}") for i in range(15)] + [
        Document(f"text {i}", "big", f"big/{i}") for i in range(400)
    ]
    assign_splits(docs)
    tiny_val = [d for d in docs if d.domain == "tiny" and d.split == "val"]
    assert len(tiny_val) == 3
    two = assign_splits([Document("a", "pair", "p/0"), Document("b", "pair", "p/1")])
    assert sorted(d.split for d in two) == ["train", "val"]


def test_builtin_corpus_keeps_each_text_once_and_matches_its_manifest():
    docs = builtin_documents()
    texts = [d.text for d in docs]
    assert len(texts) == len(set(texts))
    assert corpus_fingerprint(docs) == manifest()["fingerprint"]
