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


class _Rows:
    """The one column sparse_probing reads from a token table: each token's context row."""

    def __init__(self, row):
        self.row = row

    def __len__(self):
        return len(self.row)


def test_rows_collected_every_other_still_split_half_and_half():
    """Rows spread over a split (1, 3, 5, ...: all odd) alternate train/test in the order collected; split by row
    parity they would all land on the test side and every task would read as too small."""
    from types import SimpleNamespace

    from monoscope.features.contexts import Context

    neurons, F, mask, _ = _data(n=2000)
    row = 2 * (np.arange(2000) // 10) + 1  # 200 collected contexts of 10 tokens, odd rows only
    acts = SimpleNamespace(table=_Rows(row), neurons=neurons, features=[F])
    task = Context("planted", "regex", lambda t: mask[: len(t)].astype(float))
    res = sparse_probing(acts, [task], SparseProbingConfig(ks=(1,)))[0][0]
    assert "skipped" not in res
    assert abs(res["n_positive"]["train"] - res["n_positive"]["test"]) < 0.2 * mask.sum()
    assert res["sae_top_1_test_accuracy"] == 1.0


def test_probe_rows_spread_over_the_whole_split():
    from monoscope.evals.bench import probe_rows

    rows = probe_rows(2056, 256)  # the demo's validation split: its Greek sits in rows 360..2047
    assert len(rows) == 256 and rows[0] == 0 and rows[-1] == 2055
    assert (np.diff(rows) > 0).all() and np.diff(rows).max() <= 9
    assert probe_rows(100, 256).tolist() == list(range(100))
