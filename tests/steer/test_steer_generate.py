import json

import pytest
import torch
from steer_helpers import active_feature, load

from monoscope.errors import MonoscopeError
from monoscope.steer import Edit, steer
from monoscope.steer.domains import tokens_in_domain
from monoscope.steer.generate import SampleConfig, compare, encode_prompt, sample


@pytest.fixture(scope="module")
def run(tiny_run):
    return load(tiny_run)


def test_no_edit_steering_matches_baseline_and_clamp_moves_distribution(run):
    ds = run.dataset
    ids = encode_prompt(ds.tokenizer, ds.bos_id, "def main():")
    cfg = SampleConfig(max_new_tokens=6, temperature=1.0, top_k=20, seed=3)
    r = compare(run.model, ds.tokenizer, ids, cfg, lambda: steer(run.model, run.sae, []))
    assert r["baseline"]["tokens"] == r["steered"]["tokens"]
    assert max(s["kl"] for s in r["steps"]) < 1e-4
    i, _ = active_feature(run)
    r2 = compare(run.model, ds.tokenizer, ids, cfg, lambda: steer(run.model, run.sae, [Edit(i, "clamp", 200.0)]))
    assert r2["mean_kl"] > 1e-3
    assert len(r2["steered"]["tokens"]) == 6 and len(r2["steps"]) == 6
    json.dumps(r2)


def test_sampling_is_seeded_and_greedy_is_argmax(run):
    ids = [run.dataset.bos_id, 5, 6]
    cfg = SampleConfig(max_new_tokens=5, seed=1)
    assert sample(run.model, ids, cfg)["tokens"] == sample(run.model, ids, cfg)["tokens"]
    g = sample(run.model, ids, SampleConfig(max_new_tokens=1, temperature=0))["tokens"][0]
    with torch.no_grad():
        assert g == int(run.model(torch.tensor([ids]))[0, -1].argmax())


def test_empty_prompt_and_bad_config(run):
    with pytest.raises(MonoscopeError, match="empty"):
        encode_prompt(run.dataset.tokenizer, run.dataset.bos_id, "   ")
    with pytest.raises(MonoscopeError):
        SampleConfig(temperature=float("nan"))


def test_domain_judges(run):
    tok = run.dataset.tokenizer
    ids = tok.encode("abc 你好 x 0123456789abcdef").ids
    cjk = tokens_in_domain(tok, ids, "cjk")
    hexm = tokens_in_domain(tok, ids, "hex")
    text_cjk = bytes(
        b
        for i, m in zip(ids, cjk)
        if m
        for b in __import__("monoscope.steer.domains", fromlist=["x"]).token_bytes(tok, [i])[0]
    )
    assert text_cjk.decode("utf-8") == "你好"
    assert tok.decode([i for i, m in zip(ids, hexm) if m]).strip() == "0123456789abcdef"
    assert not any(hexm[:2])
