"""The analysis pass against brute force on the tiny run: densities, top-k, quantiles, histograms, correlations,
ablation."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.features.analysis import AnalysisConfig, analyze
from monoscope.features.store import FeatureStore, StoreWriter
from monoscope.run_folder import load_run

CFG = dict(
    tokens=2048,
    batch_contexts=8,
    top_k=5,
    quantile_bins=4,
    quantile_samples=2,
    before=3,
    after=2,
    corr_k=4,
    ablate_examples=2,
    ablate_batch=16,
)


@pytest.fixture(scope="module")
def analysed(tiny_run, tmp_path_factory):
    run = load_run(tiny_run[0])
    out = tmp_path_factory.mktemp("analysis")
    summary = analyze(run, out, AnalysisConfig(**CFG), progress=False)
    return run, out, summary, FeatureStore(out, sae_folder=run.sae_folder)


@torch.no_grad()
def brute(run, n_tokens):
    split = run.dataset.split("train")
    T = split.tokens.shape[1]
    t = split.tokens[: -(-n_tokens // T)]
    _, cache = run.model.run_with_cache(t, names=[run.hook], stop_early=True)
    x = cache[run.hook]
    f = run.sae.encode(x)
    keep = t != run.dataset.bos_id
    keep[:, 0] = False
    f[~keep] = 0
    return t, x, f, keep


def test_density_max_and_topk_match_brute_force(analysed):
    run, out, summary, store = analysed
    t, x, f, keep = brute(run, CFG["tokens"])
    n = int(keep.sum())
    assert summary["n_tokens"] == n
    density = (f > 0).flatten(0, 1).sum(0).double() / n
    alive = [i for i in range(run.sae.d_sae) if density[i] > 0]
    assert alive, "the tiny SAE has live features"
    for i in alive[:20]:
        row = store.feature(i)
        assert row["density"] == pytest.approx(float(density[i]), rel=1e-9)
        assert row["max_act"] == pytest.approx(float(f[..., i].max()), rel=1e-5)
        tops = store.top_examples(i)
        want = f[..., i].flatten().topk(min(CFG["top_k"], int((f[..., i] > 0).sum()))).values
        assert [e["act"] for e in tops] == pytest.approx(want.tolist(), abs=1e-4)
        for e in tops:  # trace-back: the stored position really holds that activation and that token
            assert float(f[e["row"], e["col"], i]) == pytest.approx(e["act"], abs=1e-4)
            assert e["tokens"][e["col"] - e["start"]] == int(t[e["row"], e["col"]])
            assert e["acts"] == pytest.approx(
                f[e["row"], e["start"] : e["start"] + len(e["acts"]), i].tolist(), abs=1e-3
            )


def test_quantile_samples_and_histograms_are_consistent(analysed):
    run, out, summary, store = analysed
    t, x, f, keep = brute(run, CFG["tokens"])
    nb = CFG["quantile_bins"]
    checked = 0
    for r in store.list(sort="density", limit=10):
        i = r["id"]
        row = store.feature(i)
        h = row["panels"]["hist"]
        assert sum(h["counts"]) == row["n_active"]
        vals = f[..., i][f[..., i] > 0].numpy()
        want, _ = np.histogram(vals, bins=np.array(h["edges"]))
        assert list(want) == h["counts"]
        for e in store.quantile_examples(i):
            a = float(f[e["row"], e["col"], i])
            assert a == pytest.approx(e["act"], abs=1e-4)
            assert 0 < a <= row["max_act"] * (1 + 1e-6)
            assert e["bin"] == min(nb - 1, int(a / row["max_act"] * nb))
            checked += 1
    assert checked > 0


def test_neuron_and_feature_correlations_match_numpy(analysed):
    run, out, summary, store = analysed
    t, x, f, keep = brute(run, CFG["tokens"])
    F = f[keep].numpy().astype(np.float64)
    X = x[keep].numpy().astype(np.float64)
    # the densest feature with a positively correlated feature (the panel lists only those)
    i = next(r["id"] for r in store.list(sort="density", limit=50) if store.feature(r["id"])["panels"]["corr_features"])
    p = store.feature(i)["panels"]
    j, c = p["corr_neurons"][0]
    assert c == pytest.approx(np.corrcoef(F[:, i], X[:, j])[0, 1], abs=1e-3)
    all_c = [np.corrcoef(F[:, i], X[:, k])[0, 1] for k in range(X.shape[1])]
    assert c == pytest.approx(np.nanmax(all_c), abs=1e-3)
    j, c = p["corr_features"][0]
    assert c == pytest.approx(np.corrcoef(F[:, i], F[:, j])[0, 1], abs=1e-3)


@torch.no_grad()
def test_ablation_loss_matches_a_manual_splice_with_error_term(analysed):
    run, out, summary, store = analysed
    split = run.dataset.split("train")
    i = store.list(sort="max_act", limit=1)[0]["id"]
    e = store.top_examples(i)[0]
    assert e["loss"] is not None and len(e["loss"]) == len(e["tokens"])
    tok = split.tokens[e["row"]][None].long()
    sae = run.sae
    window = slice(e["start"], e["start"] + len(e["tokens"]))

    def splice(v, hp):
        f = sae.encode(v)
        f_abl = f.clone()
        f_abl[0, window, i] = 0
        return sae.decode(f_abl) + (v - sae.decode(f))

    from monoscope.models.transformer import lm_loss

    clean = lm_loss(run.model(tok), tok, per_token=True)[0]
    abl = lm_loss(run.model.run_with_hooks(tok, fwd_hooks=[(run.hook, splice)]), tok, per_token=True)[0]
    want = (abl - clean)[e["start"] : e["start"] + len(e["tokens"]) - 1]
    assert e["loss"][0] == 0.0
    assert e["loss"][1:] == pytest.approx(want.tolist(), abs=2e-4)


def test_rerun_is_reused_and_a_different_config_is_refused(analysed):
    run, out, summary, store = analysed
    assert analyze(run, out, AnalysisConfig(**CFG), progress=False) == summary
    with pytest.raises(MonoscopeError, match="overwrite"):
        analyze(run, out, AnalysisConfig(**{**CFG, "tokens": 1024}), progress=False)


def test_interrupted_analysis_keeps_the_old_store(analysed, monkeypatch):
    run, out, summary, store = analysed
    before = (out / "features.db").read_bytes()

    def boom(self, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(StoreWriter, "examples", boom)
    with pytest.raises(KeyboardInterrupt):
        analyze(run, out, AnalysisConfig(**{**CFG, "tokens": 1024}), overwrite=True, progress=False)
    assert (out / "features.db").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_store_for_another_sae_is_refused(analysed, tmp_path):
    run, out, summary, store = analysed
    from monoscope.sae.io import load_sae, save_sae

    other = tmp_path / "other_sae"
    shutil.copytree(run.sae_folder, other)
    sae = load_sae(other)
    with torch.no_grad():
        sae.W_enc.mul_(1.01)
    save_sae(sae, other)
    with pytest.raises(MonoscopeError, match="was built for the SAE"):
        FeatureStore(out, sae_folder=other)
