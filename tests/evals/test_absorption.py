"""Absorption on a constructed case whose absorbed words are known, on a real tiny run, and the skip on a tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monoscope.evals.absorption import (
    AbsorptionConfig,
    AbsorptionSkipped,
    absorption_from_acts,
    first_letter_words,
    run_absorption,
)
from monoscope.sae import SAEConfig, make_sae

D = 8
E = torch.eye(D)


def _task(seed: int = 0):
    """Letters a, b, c along e0, e1, e2; 10 of 40 'a' words and 20 of 40 'b' words also carry a token feature e3."""
    g = torch.Generator().manual_seed(seed)
    acts, letters, words = [], [], []
    for li, n_e3 in ((0, 10), (1, 20), (2, 0)):
        for i in range(40):
            x = E[li] + (E[3] if i < n_e3 else 0) + 0.02 * torch.randn(D, generator=g)
            acts.append(x)
            letters.append(li)
            words.append(f"{'abc'[li]}{'_e3' if i < n_e3 else ''}_{i}")
    return torch.stack(acts), np.array(letters), words


def _sae(suppress_main: bool):
    """Latents 0-2: the letters; latent 3 fires on e3 and writes e0 + e3; with `suppress_main`, e3 silences latent 0."""
    sae = make_sae(SAEConfig("relu", D, 4))
    w_enc = torch.zeros(D, 4)
    w_dec = torch.zeros(4, D)
    for j in range(3):
        w_enc[:, j] = E[j]
        w_dec[j] = E[j]
    if suppress_main:
        w_enc[:, 0] -= 2 * E[3]
    w_enc[:, 3] = E[3] * 2**0.5
    w_dec[3] = (E[0] + E[3]) / 2**0.5
    with torch.no_grad():
        sae.W_enc.copy_(w_enc)
        sae.W_dec.copy_(w_dec)
        sae.b_enc.fill_(-0.2)
        sae.b_dec.zero_()
    return sae


def test_absorbed_words_are_found_and_only_they():
    acts, letters, words = _task()
    cfg = AbsorptionConfig(min_words=10, examples=100)
    res = absorption_from_acts(acts, letters, words, _sae(suppress_main=True), cfg)
    by = {d["first_letter"]: d for d in res["eval_result_details"]}
    a = by["a"]
    assert a["split_features"] == [0]
    assert [x["latent"] for x in a["absorbing_latents"]] == [3]
    absorbed = a["absorbing_latents"][0]["examples"]
    assert absorbed and all("_e3" in w for w in absorbed)
    assert a["num_full_absorption"] == len(absorbed)
    assert a["num_probe_true_positives"] == 8  # the probe is right on all 8 test words (0.2 of 40)
    assert a["full_absorption_rate"] == pytest.approx(len(absorbed) / 8)
    # an absorbed word has all its probe projection on latent 3; the others have none
    assert a["mean_absorption_fraction"] == pytest.approx(a["full_absorption_rate"])
    assert by["b"]["num_full_absorption"] == 0 and by["c"]["num_full_absorption"] == 0
    assert res["mean_num_split_features"] == 1.0
    assert res["mean_full_absorption_score"] == pytest.approx(a["full_absorption_rate"] / 3)


def test_no_absorption_when_the_main_latent_keeps_firing():
    acts, letters, words = _task()
    cfg = AbsorptionConfig(min_words=10)
    kept = absorption_from_acts(acts, letters, words, _sae(suppress_main=False), cfg)
    silenced = absorption_from_acts(acts, letters, words, _sae(suppress_main=True), cfg)
    assert kept["mean_full_absorption_score"] == 0.0
    # latent 3 still takes part of the probe projection beside latent 0: partial absorption, less than full
    assert 0.0 < kept["mean_absorption_fraction_score"] < silenced["mean_absorption_fraction_score"]


def test_first_letter_words_reads_word_markers():
    ids, letters, words = first_letter_words(["Ġshort", " Apple", "▁zeta", "x", "12", "ab1", "über", "Ġ"])
    assert ids.tolist() == [0, 1, 2, 3]  # single letters count, as in SAEBench's get_alpha_tokens
    assert letters.tolist() == [18, 0, 25, 23]
    assert words == ["short", "Apple", "zeta", "x"]


def test_tokenizer_without_words_is_skipped_with_a_reason():
    acts = torch.randn(30, D)
    letters = np.zeros(30, dtype=np.int64)
    with pytest.raises(AbsorptionSkipped, match="too few single-word tokens"):
        absorption_from_acts(acts, letters, ["aa"] * 30, _sae(True), AbsorptionConfig(min_words=10))


def test_absorption_on_a_tiny_run(tiny_run):
    from monoscope.run_folder import load_run

    folder, _ = tiny_run
    res = run_absorption(load_run(folder), AbsorptionConfig(min_words=5, min_probe_f1=0.0))  # a 30-step model
    assert res["n_letters"] >= 2
    assert 0.0 <= res["mean_full_absorption_score"] <= res["mean_absorption_fraction_score"] + 1.0
    assert res["mean_num_split_features"] >= 1.0
    assert res["n_letters_scored"] >= 1
    assert len(res["eval_result_details"]) == res["n_letters"]  # probe quality: see test_saebench_reference


def test_model_without_first_letters_is_skipped_with_the_probe_f1_per_letter():
    """Activations that carry no letter (noise): every probe's F1 is reported, none reaches min_probe_f1."""
    g = torch.Generator().manual_seed(0)
    letters = np.repeat(np.arange(5), 40)
    acts = torch.randn(len(letters), D, generator=g)
    with pytest.raises(AbsorptionSkipped, match="does not encode first letters") as e:
        absorption_from_acts(acts, letters, ["w"] * len(letters), _sae(True), AbsorptionConfig(min_words=10))
    f1 = e.value.details["probe_f1_by_letter"]
    assert sorted(f1) == list("abcde")
    assert max(f1.values()) <= 0.6
    assert e.value.details["n_words"] == 200
