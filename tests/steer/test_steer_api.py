"""steer/api.py: relative clamps read the feature store's max activations instead of measuring them again."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from steer_helpers import load

from monoscope.steer.api import max_acts_for, run_store
from monoscope.steer.edits import Edit
from monoscope.steer.scan import feature_max_acts


@pytest.fixture(scope="module")
def run(tiny_run):
    return load(tiny_run)


def test_relative_clamps_use_the_store_which_holds_what_scan_measures(run):
    store = run_store(run)
    assert store is not None and store.d_sae == run.sae.d_sae
    edits = [Edit(0, "clamp", 10, relative=True)]
    m = max_acts_for(run, edits)
    assert m.tolist() == store.max_acts()
    # the same split, rows and position rule as the analysis: scan would have recomputed the same maxima
    split = run.dataset.split(store.meta["split"])
    T = store.meta["n_ctx"]
    rows = math.ceil(store.meta["config"]["tokens"] / T)
    again = feature_max_acts(run.model, run.sae, run.hook, split.tokens[:rows], run.dataset.positions)
    torch.testing.assert_close(m.float(), again.float(), atol=1e-4, rtol=1e-4)
    assert max_acts_for(run, edits, given=2.0) == {0: 2.0}
    assert max_acts_for(run, [Edit(0, "ablate")]) is None


def test_a_store_of_other_weights_is_not_used(run, tmp_path):
    from dataclasses import replace

    other = tmp_path / "run"
    shutil.copytree(run.folder / "analysis", other / "analysis")
    shutil.copytree(run.sae_folder, other / "sae")
    assert run_store(replace(run, folder=other, sae_folder=other / "sae")) is not None  # a copy still matches
    from safetensors.torch import load_file, save_file

    w = other / "sae" / "sae_weights.safetensors"

    t = load_file(w)
    t["b_dec"] = t["b_dec"] + 1.0
    save_file(t, w)
    stale = replace(run, folder=other, sae_folder=other / "sae")
    assert run_store(stale) is None
    toks = run.dataset.split("val").tokens[:4]
    want = feature_max_acts(run.model, run.sae, run.hook, toks, run.dataset.positions)
    assert max_acts_for(stale, [Edit(0, "clamp", 10, relative=True)], n_contexts=4).tolist() == want.tolist()
