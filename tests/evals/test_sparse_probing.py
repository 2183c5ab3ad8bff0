"""Sparse probing on a planted latent, a too-small task, and the domain tasks of a tiny run."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from monoscope.evals.sparse_probing import SparseProbingConfig, probe_task, sparse_probing


def _data(n=2000, d=16, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random(n) < 0.3
    neurons = rng.normal(size=(n, d)).astype(np.float32)
    neurons[:, 0] += 2.0 * mask
    F = np.maximum(rng.normal(size=(n, 40)), 0)
    F[:, 7] = np.where(mask, 1.0 + rng.random(n), 0.0)  # latent 7 is the task
    return neurons, sp.csc_matrix(F), mask, np.arange(n) < n // 2


def test_planted_latent_is_chosen_first_and_is_enough():
    neurons, F, mask, train = _data()
    res = probe_task(neurons, F, mask, train)
    assert res["top_latents"][0] == 7
    assert res["sae_top_1_test_accuracy"] == 1.0
    assert res["llm_test_accuracy"] > 0.8


def test_without_the_latent_top1_is_chance():
    neurons, F, mask, train = _data()
    F = F.tolil()
    F[:, 7] = 0
    res = probe_task(neurons, F.tocsc(), mask, train)
    assert res["sae_top_1_test_accuracy"] < 0.6


def test_task_with_few_positives_reported_too_small():
    neurons, F, mask, train = _data()
    few = np.zeros_like(mask)
    few[:60] = True  # 60 positives, all on the training side
    res = probe_task(neurons, F, few, train, SparseProbingConfig())
    assert res["skipped"].startswith("too small") and res["n_positive"]["test"] == 0
    assert "llm_test_accuracy" not in res


def test_domain_tasks_on_a_tiny_run(tiny_run):
    from monoscope.features.contexts import domain_context
    from monoscope.features.hypotheses import collect
    from monoscope.run_folder import load_run

    folder, _ = tiny_run
    run = load_run(folder)
    acts = collect(run.model, [run.sae], run.dataset, run.hook, n_contexts=64, progress=False)
    domains = sorted(set(acts.table.domain.tolist()))
    res = sparse_probing(acts, [domain_context(d) for d in domains], SparseProbingConfig(ks=(1, 5)))[0]
    assert [r["task"] for r in res] == [f"domain:{d}" for d in domains]
    fitted = [r for r in res if "skipped" not in r]
    assert fitted, res
    for r in fitted:
        assert 0.5 <= r["llm_test_accuracy"] <= 1.0
        assert 0.0 <= r["sae_top_1_test_accuracy"] <= r["sae_top_5_test_accuracy"] + 0.1
