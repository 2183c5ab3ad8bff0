"""`monoscope eval` on encoders (tiny BERT and RoBERTa built from configs): FVU, L0, dead, and the downstream
measure that fits: masked-LM loss recovered with an MLM head, the cosine of pooled outputs without one."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("transformers")

from test_metrics import exact_sae  # noqa: E402  (tests/evals is on the path)

from monoscope.cli import main  # noqa: E402
from monoscope.sae import save_sae  # noqa: E402


def _with_exact_sae(src, run):
    """A copy of a run whose SAE reconstructs exactly: spliced and clean passes must agree."""
    for sub in ("model", "data"):
        shutil.copytree(src / sub, run / sub)
    cfg = json.loads((src / "sae" / "cfg.json").read_text())
    save_sae(exact_sae(cfg["d_in"], cfg["metadata"]["hook_name"]), run / "sae")
    return run


def _eval(run, capsys) -> dict:
    capsys.readouterr()
    assert main(["eval", "--sae", str(run), "--contexts", "8", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_encoder_eval_with_an_mlm_head(hf_run, family, capsys):
    r = _eval(hf_run(family), capsys)
    assert r["downstream"] == "masked_lm" and r["masked_tokens"] > 0
    for k in ("fvu", "l0", "dead_fraction", "loss_recovered", "mlm_ce_clean", "output_cosine", "cosine_recovered"):
        assert r[k] == r[k], k  # finite numbers, not NaN
    assert "ce_clean" not in r  # no next-token loss on an encoder
    assert r["mlm_ce_zero_ablated"] != r["mlm_ce_clean"]


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_exact_sae_recovers_everything_on_an_encoder(hf_run, family, tmp_path, capsys):
    run = _with_exact_sae(hf_run(family), tmp_path / "run")
    r = _eval(run, capsys)
    assert r["fvu"] < 1e-9
    assert r["output_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert r["mlm_ce_spliced"] == pytest.approx(r["mlm_ce_clean"], abs=1e-4)
    assert r["loss_recovered"] == pytest.approx(1.0, abs=1e-3)
    assert r["cosine_recovered"] == pytest.approx(1.0, abs=1e-2)


def test_encoder_without_an_mlm_head_reports_output_cosine(hf_run, tmp_path, capsys):
    import transformers as T

    src = hf_run("bert")
    run = _with_exact_sae(src, tmp_path / "run")
    base = T.BertModel.from_pretrained(str(run / "model"))  # the same encoder, its MLM head left out
    shutil.rmtree(run / "model")
    base.save_pretrained(run / "model")
    for f in (src / "model").glob("*token*"):
        shutil.copy(f, run / "model" / f.name)
    r = _eval(run, capsys)
    assert r["downstream"] == "output_cosine" and "loss_recovered" not in r and "mlm_ce_clean" not in r
    assert r["fvu"] < 1e-9 and r["output_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert r["output_cosine_zero_ablated"] < 1 - 1e-6  # zero-ablating the MLP changes the pooled output (a little)
    assert r["cosine_recovered"] == pytest.approx(1.0, abs=1e-2)
