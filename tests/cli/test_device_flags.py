"""Every sub-command that takes --device refuses a GPU this machine lacks in one line, exit 2, before any work.

The commands are read from the parser itself (a new one is covered the day it is added); their required flags get
placeholder values, since the device is checked before any of them is read.
"""

from __future__ import annotations

import argparse

import pytest

from monoscope.cli import build_parser, main


def device_commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {n: p for n, p in sub.choices.items() if any("--device" in a.option_strings for a in p._actions)}


def placeholder_args(p: argparse.ArgumentParser, tmp) -> list[str]:
    """A value for each required argument (and --out), all under tmp: paths that do not exist, or 1."""
    args = []
    required = [a for a in p._actions if a.required or "--out" in a.option_strings]
    required += [g._group_actions[0] for g in p._mutually_exclusive_groups if g.required]
    for a in required:
        value = "1" if a.type in (int, float) or a.dest in ("feature", "features", "clamp") else str(tmp / a.dest)
        args += [a.option_strings[0], value] if a.option_strings else [value]
    return args


def test_the_commands_with_a_device_flag_are_found():
    assert {"train-model", "harvest", "train-sae", "train-online", "analyze", "steer", "serve"} <= set(
        device_commands()
    )


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", sorted(device_commands()))
def test_cuda_without_a_gpu_is_one_line_before_any_work(tmp_path, capsys, command):
    args = placeholder_args(device_commands()[command], tmp_path)
    assert main([command, *args, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "--device cpu" in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []
