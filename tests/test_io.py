"""monoscope.io: JSON-lines logs survive a torn last append; torch checkpoints are fsynced, bad ones are one line;
streamed files appear only when complete."""

from __future__ import annotations

import json
import os

import pytest
import torch

from monoscope.errors import MonoscopeError
from monoscope.io import load_torch, open_atomic, read_jsonl, save_torch, truncate_jsonl


def test_a_torn_last_line_is_dropped_and_a_corrupt_middle_line_named(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')  # killed in the middle of an append
    assert read_jsonl(p) == [{"step": 1}, {"step": 2}]
    truncate_jsonl(p, 1)
    assert p.read_text() == '{"step": 1}\n'
    p.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')
    truncate_jsonl(p, 5)  # the torn fragment goes, so the next append starts a line of its own
    assert p.read_text().endswith('{"step": 2}\n')
    p.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(MonoscopeError, match=r"metrics.jsonl:2 is not a JSON record"):
        read_jsonl(p)


def test_torch_checkpoints_are_fsynced_before_their_name_and_bad_ones_are_one_line(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def record(fd):
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    save_torch(tmp_path / "state.pt", {"w": torch.ones(3), "step": 4})
    assert any(n.startswith(".state.pt.") and n.endswith(".tmp") for n in synced)
    assert load_torch(tmp_path / "state.pt")["step"] == 4
    (tmp_path / "torn.pt").write_bytes((tmp_path / "state.pt").read_bytes()[:100])
    with pytest.raises(
        MonoscopeError, match=r"checkpoint .*torn.pt is unreadable .*delete it or pass --overwrite"
    ) as e:
        load_torch(tmp_path / "torn.pt")
    assert "\n" not in str(e.value)
    (tmp_path / "j.pt").write_text(json.dumps({"not": "torch"}))
    with pytest.raises(MonoscopeError, match="unreadable"):
        load_torch(tmp_path / "j.pt")


def test_a_streamed_file_appears_only_when_complete_and_never_replaces_one_unasked(tmp_path):
    out = tmp_path / "hits.jsonl"
    with open_atomic(out) as fh:
        fh.write("one\n")
        assert not out.exists()
    assert out.read_text() == "one\n"
    with pytest.raises(MonoscopeError, match="exists; pass --overwrite"):
        open_atomic(out).__enter__()
    with pytest.raises(ValueError), open_atomic(out, overwrite=True) as fh:
        fh.write("half")
        raise ValueError
    assert out.read_text() == "one\n" and sorted(p.name for p in tmp_path.iterdir()) == ["hits.jsonl"]
    with open_atomic(out, overwrite=True) as fh:
        fh.write("two\n")
    assert out.read_text() == "two\n"
