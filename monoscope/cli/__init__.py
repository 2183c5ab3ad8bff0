"""The `monoscope` command: one sub-command per stage; each parses arguments and calls the library."""

from __future__ import annotations

import argparse
import importlib
import sys

from monoscope.errors import MonoscopeError

# One module per group of sub-commands; each names its COMMANDS and defines register(subparsers), which imports
# the configs its flags' defaults are read from (monoscope.cli.options).
COMMAND_MODULES = [
    "monoscope.cli.bench_sae",
    "monoscope.cli.circuits",
    "monoscope.cli.features",
    "monoscope.cli.pipeline",
    "monoscope.cli.report",
    "monoscope.cli.scale",
    "monoscope.cli.steer",
    "monoscope.cli.toy",
]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `argv`, only the module of the sub-command it names is registered (its
    configs are imported, the others' are not), and none for a bare --version."""
    from monoscope import __version__

    p = argparse.ArgumentParser(prog="monoscope", description="Find the features a transformer computes with.")
    p.add_argument("--version", action="version", version=f"monoscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    modules = [importlib.import_module(name) for name in COMMAND_MODULES]
    if argv is not None:
        command = next((t for t in argv if not t.startswith("-")), None)
        named = [m for m in modules if command in m.COMMANDS]
        modules = named or ([] if command is None and "--version" in argv else modules)
    for m in modules:
        m.register(sub)
    return p


def check_flags(args: argparse.Namespace) -> None:
    """The device and precision flags, checked before any work: a missing GPU or CPU half precision is one line."""
    from monoscope.precision import check_device, resolve_dtype

    device = getattr(args, "device", None)
    if device is not None:
        check_device(device)
        if getattr(args, "model_dtype", None) is not None:
            resolve_dtype(device, args.model_dtype)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        check_flags(args)
        rc = args.func(args)
    except MonoscopeError as e:
        print(f"monoscope: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("monoscope: interrupted; finished files and checkpoints are kept", file=sys.stderr)
        return 130
    return int(rc or 0)


def run() -> None:
    sys.exit(main())
