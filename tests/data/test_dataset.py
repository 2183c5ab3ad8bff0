import torch

from monoscope.data.dataset import Dataset


def test_contexts_start_with_bos_and_trace_back_to_documents(tiny_run):
    out, _ = tiny_run
    ds = Dataset(out / "data")
    split = ds.split("train")
    assert (split.tokens[:, 0] == ds.bos_id).all()
    assert (split.doc[:, 0] == -1).all()
    # every token's (doc, pos) points at the same token in that document's own encoding
    row = split.tokens.shape[0] // 2
    checked = 0
    for col in range(1, split.tokens.shape[1]):
        d, p = int(split.doc[row, col]), int(split.pos[row, col])
        ids = ds.tokenizer.encode(ds.docs[d]["text"]).ids
        if p < len(ids):
            assert ids[p] == int(split.tokens[row, col])
            checked += 1
    assert checked > 10


def test_tokenizer_round_trips_every_domain(tiny_run):
    out, _ = tiny_run
    ds = Dataset(out / "data")
    for text in ["def f(x):\n    return x", "SGVsbG8gd29ybGQ=", "派森语言", "0a1b2c3d", "<p>hi</p>"]:
        assert ds.tokenizer.decode(ds.tokenizer.encode(text).ids) == text


def test_val_split_is_disjoint_from_train_documents(tiny_run):
    out, _ = tiny_run
    ds = Dataset(out / "data")
    train_docs = set(torch.unique(ds.split("train").doc).tolist()) - {-1}
    val_docs = set(torch.unique(ds.split("val").doc).tolist()) - {-1}
    assert train_docs and val_docs and not (train_docs & val_docs)
    assert all(ds.docs[d]["split"] == "val" for d in val_docs)
