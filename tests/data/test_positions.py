"""The one rule for which positions count: not the leading BOS, not a BOS or separator token anywhere."""

from __future__ import annotations

import torch

from monoscope.data.positions import Positions


def test_rule_on_tokens():
    t = torch.tensor([[7, 1, 2, 7, 3], [7, 4, 9, 5, 6]])
    assert Positions((7,)).mask(t).tolist() == [[False, True, True, False, True], [False, True, True, True, True]]
    # a separator that differs from BOS (Llama: <s> then </s> between documents), and no prepended BOS
    assert Positions((7, 9), first_is_bos=False).mask(t).tolist() == [
        [False, True, True, False, True],
        [False, True, False, True, True],
    ]
    assert Positions((), first_is_bos=False).mask(t).all()
    assert Positions().mask(t)[:, 0].tolist() == [False, False] and Positions().mask(t)[:, 1:].all()
    assert Positions.of(None) == Positions() and Positions.of(7) == Positions((7,))
    assert Positions.of(Positions((1, 2), False)) == Positions((1, 2), False)
    assert Positions((7,)).mask(torch.zeros(2, 0, dtype=torch.long)).shape == (2, 0)


def test_dataset_rules(tiny_run, hf_run):
    from monoscope.data.dataset import Dataset

    ds = Dataset(tiny_run[0] / "data")  # built-in: BOS doubles as the separator between documents
    assert ds.positions == Positions((ds.bos_id,), True)
    split = ds.split("val")
    keep = ds.positions.mask(split.tokens)
    # exactly the tokens that are text: not the prepended BOS (pos -1), not a separator after a document
    assert torch.equal(keep, split.tokens != ds.bos_id)
    separators = (split.tokens == ds.bos_id) & (split.pos >= 0)
    assert separators.sum() > 0 and not keep[separators].any() and not keep[split.pos < 0].any()
    hf = Dataset(hf_run("llama") / "data")
    assert hf.positions == Positions(tuple(sorted({hf.bos_id, hf.meta["sep_id"]})), True)
