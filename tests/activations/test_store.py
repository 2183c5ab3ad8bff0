import numpy as np
import pytest
import torch

from monoscope.activations import ActivationStore, HarvestConfig, harvest
from monoscope.data.dataset import Dataset
from monoscope.errors import MonoscopeError
from monoscope.models import load_model


@pytest.fixture(scope="module")
def store(tiny_run, tmp_path_factory):
    out, _ = tiny_run
    ds = Dataset(out / "data")
    model = load_model(out / "model")
    folder = tmp_path_factory.mktemp("store")
    return (
        harvest(
            model,
            ds,
            folder,
            HarvestConfig(max_tokens=3000, shard_size=700, batch_contexts=8),
            overwrite=True,
            model_name="tiny",
            progress=False,
        ),
        ds,
        model,
    )


def test_every_vector_traces_back_to_its_token_and_value(store):
    st, ds, model = store
    assert len(st.meta["shards"]) > 2 and st.count == sum(s["n"] for s in st.meta["shards"])
    split = ds.split("train")
    rows = np.array([0, 5, st.count // 2, st.count - 1])
    idx = st.index(rows)
    vecs = st.read(rows)
    for (token, doc, pos, r, c), v in zip(idx, vecs):
        assert split.tokens[r, c] == token and split.doc[r, c] == doc and split.pos[r, c] == pos
        _, cache = model.run_with_cache(split.tokens[r : r + 1], names=[st.hook])
        assert torch.allclose(cache[st.hook][0, c], v, atol=1e-5)
    assert (st.index(np.arange(st.count))[:, 2] >= 0).all()  # BOS excluded


def test_shuffled_epoch_covers_each_vector_once_and_resumes(store):
    st, _, _ = store
    bs = 97
    batches = list(st.iter_batches(bs, seed=3, block=256, group_blocks=3, epochs=1))
    allv = torch.cat(batches)
    assert len(allv) == (st.count // bs) * bs
    ref = st.read(np.arange(st.count))
    # the stream is a sub-multiset of the stored vectors: nothing invented, nothing read twice
    from collections import Counter

    stored = Counter(r.numpy().tobytes() for r in ref)
    seen = Counter(r.numpy().tobytes() for r in allv)
    assert all(stored[k] >= n for k, n in seen.items())
    assert not torch.equal(allv[:bs], ref[:bs])  # shuffled
    resumed = st.iter_batches(bs, seed=3, start_batch=7, block=256, group_blocks=3)
    for i in range(7, 12):
        assert torch.equal(next(resumed), batches[i])


def test_normalisation_statistics(store):
    st, _, _ = store
    x = st.read(np.arange(st.count)).double()
    assert np.isclose(st.meta["mean_norm"], x.norm(dim=1).mean().item(), rtol=1e-4)
    assert np.isclose(st.norm_scale, np.sqrt(st.d_in) / st.meta["mean_norm"])


def test_bad_hook_and_reuse(store, tmp_path):
    st, ds, model = store
    with pytest.raises(MonoscopeError, match="valid hook points"):
        harvest(model, ds, tmp_path / "x", HarvestConfig(hook="blocks.0.mlp.hook_nope"), progress=False)
    with pytest.raises(MonoscopeError, match="another configuration"):
        harvest(model, ds, st.folder, HarvestConfig(max_tokens=100), model_name="tiny", progress=False)


def test_nan_activations_are_refused(store, tmp_path):
    st, ds, model = store
    with model.hooks([(st.hook, lambda v, h: v * float("nan"))]):
        with pytest.raises(MonoscopeError, match="NaN"):
            harvest(model, ds, tmp_path / "nan", HarvestConfig(max_tokens=100), progress=False)


def test_corrupt_shard_is_reported(store, tmp_path):
    import shutil

    st, _, _ = store
    copy = tmp_path / "copy"
    shutil.copytree(st.folder, copy)
    (copy / st.meta["shards"][0]["acts"]).write_bytes(b"garbage")
    with pytest.raises(MonoscopeError, match="missing or corrupt"):
        ActivationStore(copy)


def _edited_copy(st, tmp_path, edit):
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(st.folder, copy)
    meta = json.loads((copy / "meta.json").read_text())
    edit(meta, copy)
    (copy / "meta.json").write_text(json.dumps(meta))
    return copy


@pytest.mark.parametrize("name", ["../outside.npy", "/etc/outside.npy", "sub/acts.npy", ".hidden.npy", "acts.pkl"])
def test_hostile_shard_names_are_refused(store, tmp_path, name):
    st, _, _ = store
    outside = tmp_path / "outside.npy"
    np.save(outside, np.zeros((st.meta["shards"][0]["n"], st.d_in), dtype=np.float32))

    def edit(meta, copy):
        meta["shards"][0]["acts"] = name if name != "/etc/outside.npy" else str(outside)

    copy = _edited_copy(st, tmp_path, edit)
    with pytest.raises(MonoscopeError, match=r"shards must be plain \.npy file names inside the store"):
        ActivationStore(copy)


@pytest.mark.parametrize("delta", [1, -1])
def test_count_that_disagrees_with_the_shards_is_refused(store, tmp_path, delta):
    st, _, _ = store
    copy = _edited_copy(st, tmp_path, lambda meta, _: meta.update(count=meta["count"] + delta))
    with pytest.raises(MonoscopeError, match=rf"says count {st.count + delta} but its shards hold {st.count} vectors"):
        ActivationStore(copy)


def test_wrong_length_index_names_the_index_and_both_shapes(store, tmp_path):
    st, _, _ = store
    s0 = st.meta["shards"][0]

    def edit(meta, copy):
        np.save(copy / s0["index"], np.zeros((s0["n"] - 3, 5), dtype=np.int32))

    copy = _edited_copy(st, tmp_path, edit)
    want = rf"shard {s0['index']} in .* has shape \({s0['n'] - 3}, 5\), meta.json says \({s0['n']}, 5\)"
    with pytest.raises(MonoscopeError, match=want):
        ActivationStore(copy)


def test_shards_are_on_disk_before_they_are_named(store, tmp_path, monkeypatch):
    """Each shard file is fsynced while it still has its temporary name, then renamed."""
    import os

    st, ds, model = store
    synced = []
    real = os.fsync

    def record(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    new = harvest(model, ds, tmp_path / "h", HarvestConfig(max_tokens=1000, shard_size=300), progress=False)
    names = [s[k] for s in new.meta["shards"] for k in ("acts", "index")]
    assert len(names) > 2
    for name in names:
        assert str(tmp_path / "h" / (name + ".tmp")) in synced
