"""Our absorption and sparse probing against SAEBench's own code, frozen: tests/evals/data/saebench_reference.json.

The reference was written by `make saebench-reference`: sae-bench 0.6.0 in its
own virtualenv (`make peers-saebench`) ran its absorption experiment and its
sparse probing on the files of saebench_fixture.py (a tiny HF GPT-2 and a ReLU
SAE with planted absorption, a seeded probing task). This test rebuilds the same
files, checks by their checksums (equal up to float rounding) that they are what the reference was made on,
and scores them with monoscope; the shared metrics must agree within 0.02
absolute. The peer's virtualenv is not needed here, so this always runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
REFERENCE = json.loads((HERE / "data" / "saebench_reference.json").read_text())
TOLERANCE = 0.02
SHARED = ("mean_absorption_fraction_score", "mean_full_absorption_score", "mean_num_split_features")


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    sys.path.insert(0, str(HERE))
    import saebench_fixture

    out = tmp_path_factory.mktemp("saebench_fixture")
    return out, saebench_fixture.build(out)


def test_the_fixture_is_the_one_the_reference_was_made_on(fixture):
    import saebench_fixture

    _, desc = fixture
    assert saebench_fixture.same_fixture(desc["checksums"], REFERENCE["fixture"]["checksums"])
    assert REFERENCE["versions"]["sae-bench"] == "0.6.0"


@pytest.fixture(scope="module")
def ours(fixture):
    from transformers import AutoTokenizer

    from monoscope.evals.absorption import absorption
    from monoscope.models import load_model
    from monoscope.sae import load_sae

    out, desc = fixture
    tok = AutoTokenizer.from_pretrained(out / "model")
    strs = [tok.decode([i]) for i in range(len(tok))]
    return absorption(load_model(out / "model"), desc["hook"], strs, load_sae(out / "sae"), tok.bos_token_id)


def test_absorption_agrees_with_saebench(ours):
    ref = REFERENCE["absorption"]
    assert ref["mean_full_absorption_score"] > 0.02  # the planted absorption is seen: agreement is not on zeros
    for key in SHARED:
        assert abs(ours[key] - ref[key]) <= TOLERANCE, (key, ours[key], ref[key])
    assert ours["probe_test_accuracy"] > 0.9  # every word carries its letter's direction: the probes find it


def test_the_same_letters_are_scored_with_the_same_main_latents(ours):
    ref = {d["first_letter"]: d for d in REFERENCE["absorption"]["eval_result_details"]}
    mine = {d["first_letter"]: d for d in ours["eval_result_details"] if d["num_probe_true_positives"] > 0}
    assert sorted(ref) == sorted(d for d in mine if mine[d]["probe_f1"] > 0.6)
    for letter, d in ref.items():
        assert mine[letter]["split_features"] == d["split_features"], letter


def test_sparse_probing_agrees_with_saebench(fixture):
    from safetensors.numpy import load_file

    from monoscope.evals.sparse_probing import probe_task

    out, _ = fixture
    d = load_file(str(out / "probing.safetensors"))
    neurons = np.concatenate([d["train_x"], d["test_x"]])
    features = np.concatenate([d["train_f"], d["test_f"]])
    mask = np.concatenate([d["train_y"], d["test_y"]]) > 0
    train = np.arange(len(mask)) < len(d["train_y"])
    res = probe_task(neurons, features, mask, train)
    ref = REFERENCE["sparse_probing"]
    assert set(ref) == {"llm_test_accuracy"} | {f"sae_top_{k}_test_accuracy" for k in (1, 2, 5, 20)}
    for key, v in ref.items():
        assert abs(res[key] - v) <= TOLERANCE, (key, res[key], v)


def test_the_fixture_check_tells_another_seed_apart():
    import saebench_fixture as f

    other = f.checksums(*f.planted(seed=1)[:4], *f.probing_data(seed=1).values())
    assert not f.same_fixture(other, REFERENCE["fixture"]["checksums"])
