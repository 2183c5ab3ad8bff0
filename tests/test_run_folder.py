"""load_run: the model and data come from --model/--data or from beside the SAE, never from its metadata unasked."""

from __future__ import annotations

import shutil

import pytest

from monoscope.errors import MonoscopeError
from monoscope.run_folder import load_run


def test_a_lone_sae_folder_needs_model_and_data_named(tiny_run, tmp_path, capsys):
    run_dir = tiny_run[0]
    lone = tmp_path / "downloaded_sae"
    shutil.copytree(run_dir / "sae", lone)
    # its metadata names the real model folder, which exists: still not followed unasked
    with pytest.raises(MonoscopeError, match=r"no subject model beside the SAE .*; pass --model FOLDER \(its metadata"):
        load_run(lone)
    with pytest.raises(MonoscopeError, match=r"no dataset beside the SAE .*; pass --data FOLDER"):
        load_run(lone, model=run_dir / "model")
    with pytest.raises(MonoscopeError, match=r"model folder .*nowhere does not exist; pass --model"):
        load_run(lone, model=tmp_path / "nowhere", data=run_dir / "data")
    capsys.readouterr()
    run = load_run(lone, model=run_dir / "model", data=run_dir / "data")
    err = capsys.readouterr().err
    assert err == f"monoscope: SAE {lone}, model {run_dir / 'model'}, data {run_dir / 'data'}\n"
    assert run.model_folder == run_dir / "model" and run.data_folder == run_dir / "data"
    # without data where the caller needs none
    assert load_run(lone, model=run_dir / "model", need_data=False).dataset is None


def test_a_run_folder_uses_its_own_folders_quietly(tiny_run, capsys):
    run = load_run(tiny_run[0])
    assert run.model_folder == tiny_run[0] / "model" and run.data_folder == tiny_run[0] / "data"
    assert capsys.readouterr().err == ""
