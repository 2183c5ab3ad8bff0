"""The out-of-core store: streamed shard writes, float16, file reads instead of mapped slices, shard views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monoscope.activations.store import ActivationStore, write_store
from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError


def _vectors(n=5000, d=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_write_read_epoch_covers_every_vector_once(tmp_path, dtype):
    x = _vectors()
    st = write_store(tmp_path / "s", (x[i : i + 700] for i in range(0, len(x), 700)), dtype=dtype, shard_size=1200)
    assert st.count == 5000 and [s["n"] for s in st.meta["shards"]] == [1200] * 4 + [200]
    want = x.astype(dtype).astype(np.float32)
    np.testing.assert_array_equal(st.read(np.arange(5000)).numpy(), want)
    for s, (a, b) in enumerate([(0, 1200), (100, 357)]):
        np.testing.assert_array_equal(st.read_block(s, a, b), np.asarray(st._acts[s][a:b]))
    got = torch.cat(list(st.iter_batches(256, seed=3, block=300, group_blocks=3, epochs=1))).numpy()
    assert len(got) == 5000 // 256 * 256
    rows = {r.tobytes() for r in want}
    assert all(r.tobytes() in rows for r in got) and len({r.tobytes() for r in got}) == len(got)
    # batches are shuffled across shards, not read in order
    first = next(st.iter_batches(256, seed=3, block=300, group_blocks=3)).numpy()
    assert not np.array_equal(first, want[:256])
    np.testing.assert_allclose(st.meta["mean"], want.mean(0), atol=1e-5)


def test_select_shards_and_errors(tmp_path):
    st = write_store(tmp_path / "s", [_vectors(3000)], shard_size=1000)
    v = st.select_shards([0, 2])
    assert v.count == 2000 and len(v.meta["shards"]) == 2 and st.count == 3000
    np.testing.assert_array_equal(v.read([1000]).numpy(), st.read([2000]).numpy())
    with pytest.raises(MonoscopeError, match="no shards"):
        st.select_shards([])
    with pytest.raises(MonoscopeError, match="NaN or inf"):
        write_store(tmp_path / "nan", [np.full((4, 3), np.nan, dtype=np.float32)])
    with pytest.raises(MonoscopeError, match="one width"):
        write_store(tmp_path / "w", [np.zeros((4, 3), np.float32), np.zeros((4, 5), np.float32)])
    # a store whose d_in differs from the SAE's is refused before training
    from monoscope.sae import SAEConfig, TrainConfig, train_sae

    with pytest.raises(MonoscopeError, match="does not match the store"):
        train_sae(
            ActivationStore(tmp_path / "s"),
            tmp_path / "sae",
            TrainConfig(sae=SAEConfig("relu", 16, 32)),
            progress=False,
        )


def test_harvest_float16_matches_model(tmp_path):
    from monoscope.activations import HarvestConfig, harvest
    from monoscope.models import GPT, GPTConfig

    class Data:
        folder = tmp_path
        meta = {"prepend_bos": False}
        positions = Positions((), first_is_bos=False)  # no BOS, no separator: every position counts

        def split(self, name):
            from monoscope.data.dataset import TokenSplit

            t = torch.randint(0, 50, (10, 8), generator=torch.Generator().manual_seed(0))
            return TokenSplit(t, torch.zeros_like(t), torch.arange(8).expand(10, -1).clone())

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, n_ctx=8, d_model=16, d_mlp=32, n_heads=2)).eval()
    st = harvest(
        model,
        Data(),
        tmp_path / "acts",
        HarvestConfig(hook="blocks.0.mlp.hook_post", dtype="float16", shard_size=30, batch_contexts=3),
        progress=False,
    )
    _, cache = model.run_with_cache(Data().split("train").tokens, names=["blocks.0.mlp.hook_post"])
    want = cache["blocks.0.mlp.hook_post"].reshape(-1, 32).half().float()
    torch.testing.assert_close(st.read(np.arange(80)), want)
    assert st.meta["prepend_bos"] is False and len(st.meta["shards"]) == 3
    np.testing.assert_array_equal(st.index([9])[0], [int(Data().split("train").tokens[1, 1]), 0, 1, 1, 1])
