"""steer/domains.py: the generation judges use the analysis's own script blocks (data/labels.SCRIPTS)."""

from __future__ import annotations

import numpy as np
import pytest

from monoscope.data.labels import SCRIPTS, script_shares
from monoscope.steer.domains import char_mask


def test_the_cjk_judge_is_the_script_rule_of_the_analysis():
    # every block edge of the CJK script, one code point either side, a compatibility ideograph, ASCII and a space
    edges = [c for a, b in SCRIPTS["cjk"] for c in (a - 1, a, b, b + 1)]
    text = "".join(map(chr, edges)) + "\uf900a1 "
    judged = char_mask(text, "cjk")
    n = len(text)
    shares = script_shares(text, np.arange(n), np.arange(1, n + 1), ("cjk",))["cjk"]
    keep = [not c.isspace() for c in text]  # spaces (U+3000 too) are judged by no rule: tokens skip them
    assert [j for j, k in zip(judged, keep) if k] == [bool(s == 1.0) for s, k in zip(shares, keep) if k]
    assert judged[text.index("\uf900")]  # the two rules used to disagree here: U+F900-FAFF are Han characters
    assert sum(judged) >= 2 * len(SCRIPTS["cjk"])


def test_hex_and_base64_runs():
    text = "id deadbeef01 and aGVsbG8gd29ybGQ+Zm9v!"
    hexm, b64 = char_mask(text, "hex"), char_mask(text, "base64")
    assert "".join(c for c, m in zip(text, hexm) if m) == "deadbeef01"
    assert "".join(c for c, m in zip(text, b64) if m) == "aGVsbG8gd29ybGQ+Zm9v"


def test_domain_features_pick_the_feature_that_best_separates_each_domain(tiny_run):
    # an independent recomputation: every counted token's activations, its document's domain, Cohen's d per feature
    import json
    import subprocess
    import sys

    from steer_helpers import load

    from monoscope.steer.domains import find_domain_features

    run = load(tiny_run)
    s = run.dataset.split("val")
    toks, docs = s.tokens[:16], s.doc[:16]
    _, cache = run.model.run_with_cache(toks, names=[run.hook], stop_early=True)
    ok = run.dataset.positions.mask(toks).flatten()
    f = run.sae.encode(cache[run.hook]).flatten(0, 1)[ok].double().detach().numpy()
    doms = [d["domain"] for d in run.dataset.docs]
    labels = np.array(["bos" if j < 0 else doms[j] for j in docs.flatten()[ok].tolist()], dtype=object)
    want = {}
    for dom in set(labels) - {"bos"}:
        a, b = f[labels == dom], f[labels != dom]
        d = (a.mean(0) - b.mean(0)) / np.maximum(np.sqrt((a.var(0) + b.var(0)) / 2), 1e-9)
        want[dom] = (int(d.argmax()), float(d.max()), int(len(a)))

    got = find_domain_features(run.model, run.sae, run.hook, run.dataset, "val", 16)
    assert len(want) >= 2 and set(got) == set(want)
    for dom, (i, d, n) in want.items():
        assert (got[dom].feature, got[dom].tokens) == (i, n)
        assert got[dom].cohen_d == pytest.approx(d, rel=1e-6)

    out, _ = tiny_run
    cmd = [sys.executable, "-m", "monoscope", "domain-features", "--sae", str(out), "--contexts", "16", "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert {r["domain"]: r["feature"] for r in rows} == {dom: w[0] for dom, w in want.items()}
