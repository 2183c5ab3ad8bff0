import json

import pytest
import torch
from steer_helpers import active_feature, load

from monoscope.cli import main
from monoscope.errors import MonoscopeError
from monoscope.steer.monitor import MonitorConfig, monitor_files
from monoscope.steer.scan import iter_feature_acts


@pytest.fixture(scope="module")
def run(tiny_run):
    return load(tiny_run)


def _files(tmp_path, run):
    docs = [d["text"][:400] for d in run.dataset.docs[:3]]
    (tmp_path / "a.txt").write_text(docs[0], encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"text": docs[1]}) + "\n{not json\n" + json.dumps(docs[2]) + "\n", encoding="utf-8"
    )
    return [tmp_path / "a.txt", tmp_path / "b.jsonl"], docs


def test_hits_match_a_brute_force_scan(run, tmp_path):
    paths, docs = _files(tmp_path, run)
    i, m = active_feature(run)
    thr = 0.3 * m
    hits = []
    s = monitor_files(
        run.model,
        run.sae,
        run.dataset.tokenizer,
        run.dataset.bos_id,
        paths,
        MonitorConfig([i], thr, on_error="skip", batch_contexts=3),
        hits.append,
    )
    assert s["documents"] == 3 and len(s["bad_inputs"]) == 1 and "b.jsonl:2" in s["bad_inputs"][0]
    body = run.model.cfg.n_ctx - 1
    want = 0
    for text in docs:
        ids = run.dataset.tokenizer.encode(text).ids
        for o in range(0, len(ids), body):
            w = torch.tensor([[run.dataset.bos_id] + ids[o : o + body]])
            ((_, _, f),) = list(iter_feature_acts(run.model, run.sae, run.hook, w))
            want += int((f[0, 1:, i] > thr).sum())
    assert want > 0 and len(hits) == want == s["hits"]
    h = hits[0]
    assert set(h) >= {"document", "feature", "position", "token", "activation", "context"} and h["activation"] > thr


def test_bad_input_stops_by_default(run, tmp_path):
    paths, _ = _files(tmp_path, run)
    (tmp_path / "bin.txt").write_bytes(b"ok\n\xff\xfe bad")
    with pytest.raises(MonoscopeError, match=r"b\.jsonl:2"):
        monitor_files(
            run.model, run.sae, run.dataset.tokenizer, run.dataset.bos_id, paths, MonitorConfig([0]), lambda h: None
        )
    with pytest.raises(MonoscopeError, match=r"bin\.txt:2: not valid UTF-8"):
        monitor_files(
            run.model,
            run.sae,
            run.dataset.tokenizer,
            run.dataset.bos_id,
            [tmp_path / "bin.txt"],
            MonitorConfig([0]),
            lambda h: None,
        )


def test_cli_monitor_steer_and_errors(run, tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    paths, _ = _files(tmp_path, run)
    i, _ = active_feature(run)
    assert (
        main(["monitor", "--sae", str(out), "--features", str(i), "--on-error", "skip", "--quiet", *map(str, paths)])
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert "summary" in lines[-1] and lines[-1]["summary"]["hits"] == len(lines) - 1
    assert main(["monitor", "--sae", str(out), "--features", str(i), *map(str, paths)]) == 2
    assert "b.jsonl:2" in capsys.readouterr().err
    assert (
        main(
            [
                "steer",
                "--sae",
                str(out),
                "--feature",
                str(i),
                "--clamp",
                "5x",
                "--prompt",
                "def f",
                "--max-new-tokens",
                "3",
                "--json",
                "--quiet",
                "--max-act-contexts",
                "8",
            ]
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["edits"][0]["value"] > 0 and len(r["steps"]) == 3
    for argv, msg in [
        (["--feature", str(run.sae.d_sae), "--clamp", "3"], "out of range"),
        (["--feature", "0", "--clamp", "nan"], "finite"),
        (["--feature", "0", "--ablate", "--prompt", ""], "empty"),
    ]:
        extra = [] if "--prompt" in argv else ["--prompt", "x"]
        assert main(["steer", "--sae", str(out), *argv, *extra, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1


def test_cli_effects_and_design(run, tiny_run, capsys):
    out, _ = tiny_run
    i, _ = active_feature(run)
    assert main(["effects", "--sae", str(out), "--feature", str(i), "--text", "def f(x):\n    return x", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["contribution"]["check"]["logits_max_abs_gap"] < 1e-4 and r["tokens"][0]["delta_logp"] is None
    assert (
        main(
            [
                "design",
                "--sae",
                str(out),
                "--feature",
                str(i),
                "--length",
                "3",
                "--steps",
                "2",
                "--candidates",
                "8",
                "--beam",
                "1",
                "--corpus-contexts",
                "2",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["designed_minus_corpus"] == pytest.approx(r["sequences"][0]["activation"] - r["corpus_best"]["activation"])
    assert main(["design", "--sae", str(out), "--feature", "-3", "--quiet"]) == 2
    assert "out of range" in capsys.readouterr().err
