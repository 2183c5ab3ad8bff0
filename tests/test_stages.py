"""Stage folders: reuse, refusal, and what --overwrite may delete."""

from __future__ import annotations

import pytest

from monoscope.errors import MonoscopeError
from monoscope.stages import finish_stage, open_stage


def _stamped(folder, stage, cfg):
    open_stage(folder, stage, cfg)
    (folder / "result.bin").write_bytes(b"precious")
    finish_stage(folder)


def test_overwrite_never_deletes_a_folder_another_stage_stamped(tmp_path):
    acts = tmp_path / "acts"
    _stamped(acts, "harvest", {"hook": "h"})
    with pytest.raises(MonoscopeError, match=r"holds a harvest result, not train-sae; --overwrite replaces only"):
        open_stage(acts, "train-sae", {"lr": 1}, overwrite=True)
    assert (acts / "result.bin").read_bytes() == b"precious"


def test_overwrite_replaces_a_result_of_the_same_stage_and_reuse_needs_the_same_config(tmp_path):
    sae = tmp_path / "sae"
    _stamped(sae, "train-sae", {"lr": 1})
    assert open_stage(sae, "train-sae", {"lr": 1}) is True
    with pytest.raises(MonoscopeError, match=r"lr: 1 -> 2.*pass --overwrite"):
        open_stage(sae, "train-sae", {"lr": 2})
    assert open_stage(sae, "train-sae", {"lr": 2}, overwrite=True) is False
    assert not (sae / "result.bin").exists()
