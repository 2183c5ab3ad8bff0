"""`monoscope effects` on Hugging Face causal LMs: ablation effects and logit attribution through the CLI."""

from __future__ import annotations

import json

import pytest

from monoscope.cli import main


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_effects_cli_on_hugging_face_models(hf_run, family, capsys):
    run = hf_run(family)
    text = "hello world, the quick brown fox jumps over the lazy dog"
    r = None
    for feature in range(8):  # the first feature that fires on this text, after the first token
        assert main(["effects", "--sae", str(run), "--feature", str(feature), "--text", text, "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        acts = [t["activation"] for t in r["tokens"]]
        if any(a > 0 for a in acts[1:]):
            break
    first = next(p for p, a in enumerate(acts) if p > 0 and a > 0)
    c = r["contribution"]
    assert c["check"]["layer_output_max_abs_gap"] < 1e-4
    assert c["check"]["logits_max_abs_gap"] < 1e-4
    assert c["activation"] > 0 and c["position"] >= first
    assert len(c["top_promoted"]) == 10 and len(c["top_suppressed"]) == 10
    delta = [t["delta_logp"] for t in r["tokens"]]
    assert delta[0] is None
    # causal: predictions made before the feature first fires are untouched, and some later one moves
    assert all(abs(d) < 1e-6 for d in delta[1 : first + 1])
    assert max(abs(d) for d in delta[first + 1 :]) > 1e-6
