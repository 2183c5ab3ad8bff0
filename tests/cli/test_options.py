"""Every flag's default is the default of the dataclass field (or function parameter) that owns it.

Parametrized over every sub-command the parser has, so a new command or flag is checked without being listed
here; a flag that states a default of its own (not read through monoscope.cli.options.option) fails.
"""

import argparse
import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import monoscope
from monoscope.cli import COMMAND_MODULES, build_parser
from monoscope.cli.options import default_of, option


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


COMMANDS = _subparsers(build_parser())


def _owned(owner, name):
    """The owner's default, read here independently of monoscope.cli.options."""
    if dataclasses.is_dataclass(owner):
        f = {f.name: f for f in dataclasses.fields(owner)}[name]
        return f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return inspect.signature(owner).parameters[name].default


def _config_fields() -> set[str]:
    """Field names of every *Config dataclass in the package: a flag by one of these names must read its default."""
    names = set()
    for m in pkgutil.walk_packages(monoscope.__path__, "monoscope."):
        if ".pretrained" in m.name or m.name.endswith("__main__"):
            continue
        mod = importlib.import_module(m.name)
        for obj in vars(mod).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__name__.endswith("Config"):
                names |= {f.name for f in dataclasses.fields(obj)}
    return names


CONFIG_FIELDS = _config_fields()


def _flags(parser):
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_every_sub_command_is_checked():
    assert {"train-sae", "train-online", "harvest", "demo", "monitor", "report", "analyze"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_flag_defaults_are_read_from_their_owner(command):
    flags = _flags(COMMANDS[command])
    owned = [a for a in flags if getattr(a, "owner", None) is not None]
    for a in owned:
        assert a.default == _owned(a.owner, a.owner_field), (command, a.option_strings)
    for a in flags:
        if hasattr(a, "owner"):
            continue  # read from its owner, or declared the command line's own through option(default=...)
        # a plain add_argument may only say "not given" (None, a switch off, an empty list to append to)
        assert a.default in (None, False, []), (command, a.option_strings, a.default)
        assert not (a.dest in CONFIG_FIELDS and a.default is not None), (command, a.option_strings)


def test_the_disagreeing_sae_defaults_are_the_dataclasses():
    """train-sae and train-online once said 1024/2048 latents, λ 3.3/5.0, batch 512/1024 beside SAEConfig's 4096
    and TrainConfig's λ 5, batch 4096; now all read one place, the demo's measured ReLU recipe."""
    from monoscope.demo import RELU, DemoConfig
    from monoscope.sae import SAEConfig, TrainConfig

    given = {"train-sae": ["--acts", "s"], "train-online": ["--model", "m", "--data", "d", "--hook", "h"]}
    for command, args in given.items():
        a = COMMANDS[command].parse_args(["--out", "o", *args])
        assert (a.d_sae, a.sparsity_coef, a.batch_size, a.lr, a.total_vectors) == (
            SAEConfig.d_sae,
            TrainConfig.sparsity_coef,
            TrainConfig.batch_size,
            TrainConfig.lr,
            TrainConfig.total_vectors,
        )
    assert (RELU.d_sae, RELU.sparsity_coef, RELU.lr, DemoConfig.sae_batch) == (2048, 3.0, 1e-3, 1024)


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_each_module_registers_the_commands_it_names(name):
    """main() registers only the module of the command it is given (its COMMANDS): a command missing from that
    list would be unreachable."""
    m = importlib.import_module(name)
    p = argparse.ArgumentParser()
    m.register(p.add_subparsers())
    assert set(_subparsers(p)) == set(m.COMMANDS)


def test_option_reads_dataclass_and_function_defaults_and_refuses_a_second_one():
    @dataclasses.dataclass
    class Cfg:
        width: int = 7
        names: list = dataclasses.field(default_factory=lambda: ["a"])
        on: bool = True

    def f(x, rate: float = 0.5):
        return x

    p = argparse.ArgumentParser()
    option(p, "--width", of=Cfg, help="how wide")
    option(p, "--no-on", of=Cfg, field="on")
    option(p, "--rate", of=f)
    assert default_of(Cfg, "names") == ["a"]
    a = p.parse_args([])
    assert (a.width, a.on, a.rate) == (7, True, 0.5)
    a = p.parse_args(["--width", "9", "--no-on", "--rate", "2"])
    assert (a.width, a.on, a.rate) == (9, False, 2.0)
    assert "(default: 7)" in p.format_help()
    with pytest.raises(TypeError, match="not given again"):
        option(p, "--width2", of=Cfg, field="width", default=3)
    with pytest.raises(TypeError, match="owner"):
        option(p, "--free")
    with pytest.raises(TypeError, match="no parameter"):
        option(p, "--y", of=f)
