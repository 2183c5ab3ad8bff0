"""HF datasets corpora: local json/csv/parquet/text sources, packing with a model's tokenizer, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("datasets")
pytest.importorskip("transformers")

from monoscope.data import Dataset  # noqa: E402
from monoscope.data.hf import HFDataConfig, build_hf_dataset  # noqa: E402
from monoscope.errors import MonoscopeError  # noqa: E402

DOCS = [f"document {i}: the quick brown fox {'jumps ' * (i % 7)}over the lazy dog number {i}." for i in range(60)]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        DOCS,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    d = tmp_path_factory.mktemp("tok")
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>").save_pretrained(d)
    return d


def _write(folder, kind):
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "jsonl":
        p = folder / "c.jsonl"
        p.write_text("".join(json.dumps({"body": t, "src": "a" if i % 2 else "b"}) + "\n" for i, t in enumerate(DOCS)))
    elif kind == "csv":
        import pandas as pd

        p = folder / "c.csv"
        pd.DataFrame({"body": DOCS, "src": ["x"] * len(DOCS)}).to_csv(p, index=False)
    elif kind == "parquet":
        import pandas as pd

        p = folder / "c.parquet"
        pd.DataFrame({"body": DOCS, "src": ["x"] * len(DOCS)}).to_parquet(p)
    else:  # a folder of text files, one document each
        p = folder / "txt"
        p.mkdir()
        for i, t in enumerate(DOCS):
            (p / f"{i:03d}.txt").write_text(t + "\nsecond line")
    return p


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "text"])
def test_sources_pack_and_trace_back(tmp_path, tok_dir, kind):
    src = _write(tmp_path / "src", kind)
    column = "text" if kind == "text" else "body"
    ds = build_hf_dataset(
        tmp_path / "data",
        HFDataConfig(str(src), str(tok_dir), text_column=column, n_ctx=16, val_fraction=0.1),
        progress=False,
    )
    assert isinstance(ds, Dataset) and ds.meta["prepend_bos"] is True and ds.meta["context_size"] == 16
    tr = ds.split("train")
    assert tr.tokens.shape[1] == 16 and len(tr) > 5
    assert (tr.tokens[:, 0] == ds.bos_id).all() and (tr.pos[:, 0] == -1).all() and ds.bos_id == 0
    # every non-BOS token leads back to its document and position
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    for r in (0, len(tr) // 2, len(tr) - 1):
        for c in (1, 7, 15):
            d, p = int(tr.doc[r, c]), int(tr.pos[r, c])
            ids = tok(ds.docs[d]["text"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            assert ids[p] == int(tr.tokens[r, c])
    assert {d["split"] for d in ds.docs} == {"train", "val"}


def test_no_bos_and_missing_column(tmp_path, tok_dir):
    src = _write(tmp_path / "src", "jsonl")
    ds = build_hf_dataset(
        tmp_path / "nobos",
        HFDataConfig(str(src), str(tok_dir), text_column="body", domain_column="src", n_ctx=8, prepend_bos=False),
        progress=False,
    )
    tr = ds.split("train")
    assert ds.meta["prepend_bos"] is False and (tr.pos >= 0).all()
    assert set(ds.meta["domains"]) == {"a", "b"}
    # contexts are the document stream cut into pieces, nothing inserted
    flat = tr.tokens.flatten()
    assert int((flat == ds.bos_id).sum()) == 0
    with pytest.raises(MonoscopeError, match=r"no column 'text'; its columns: body, src"):
        build_hf_dataset(tmp_path / "bad", HFDataConfig(str(src), str(tok_dir), n_ctx=8), progress=False)
    with pytest.raises(MonoscopeError, match="does not exist"):
        build_hf_dataset(tmp_path / "bad2", HFDataConfig(str(tmp_path / "missing.jsonl"), str(tok_dir)), progress=False)
    with pytest.raises(MonoscopeError, match="max_tokens|n_ctx"):
        HFDataConfig("x", "y", n_ctx=1)
    assert torch.is_tensor(tr.doc)


def test_tokenizer_file_truncation_and_padding_ignored(tmp_path, tok_dir):
    """A tokenizer.json that says truncate to 8 and pad to 8 (as sentence-transformers models ship) must not cut
    documents: every document is tokenised whole, no pad id enters the contexts, and the stored tokenizer is clean."""
    import shutil

    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    cut = tmp_path / "cut_tok"
    shutil.copytree(tok_dir, cut)
    spec = json.loads((cut / "tokenizer.json").read_text())
    spec["truncation"] = {"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0}
    spec["padding"] = {
        "strategy": {"Fixed": 8},
        "direction": "Right",
        "pad_to_multiple_of": None,
        "pad_id": 1,
        "pad_type_id": 0,
        "pad_token": "</s>",
    }
    (cut / "tokenizer.json").write_text(json.dumps(spec))
    assert AutoTokenizer.from_pretrained(cut).backend_tokenizer.truncation is not None  # the file really carries it
    src = _write(tmp_path / "src", "text")
    ds = build_hf_dataset(
        tmp_path / "data", HFDataConfig(str(src), str(cut), n_ctx=16, val_fraction=0.0), progress=False
    )
    whole = AutoTokenizer.from_pretrained(tok_dir)
    lengths = [len(whole(d["text"], add_special_tokens=False)["input_ids"]) for d in ds.docs]
    assert max(lengths) > 8
    assert [d["n_tokens"] for d in ds.docs] == lengths
    # packed: every document token plus one separator each, BOS per context, only the last partial context dropped
    stream = sum(lengths) + len(lengths)
    assert ds.meta["domain_tokens"] == {"text": sum(lengths)}
    assert stream - 15 < ds.meta["train_tokens"] * 15 / 16 <= stream
    tr = ds.split("train")
    for d in (0, 30, 57):  # the last document may lose its tail to the dropped partial context
        assert int((tr.doc == d).sum()) == lengths[d] + 1
    stored = Tokenizer.from_file(str(tmp_path / "data" / "tokenizer.json"))
    assert stored.truncation is None and stored.padding is None
