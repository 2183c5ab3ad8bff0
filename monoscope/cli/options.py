"""Flags whose defaults are read from where they live: a config dataclass's field or a function's parameter.

Every flag with a default goes through `option`: given an owner, its default, type and the "(default: …)" in its
help come from the owner, so a default is written once (tests/cli/test_options.py checks every sub-command);
given none, the default is the command line's own (an output folder, a display choice) and says so by
`default=`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any

_NO_DEFAULT = object()


def default_of(owner, name: str) -> Any:
    """The default of `owner.name`: a dataclass field's (or its factory's) or a function parameter's."""
    if dataclasses.is_dataclass(owner):
        for f in dataclasses.fields(owner):
            if f.name == name:
                if f.default is not dataclasses.MISSING:
                    return f.default
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
                break
        else:
            raise TypeError(f"{owner.__name__} has no field {name!r}")
    else:
        p = inspect.signature(owner).parameters.get(name)
        if p is None:
            raise TypeError(f"{owner.__qualname__} has no parameter {name!r}")
        if p.default is not inspect.Parameter.empty:
            return p.default
    raise TypeError(f"{getattr(owner, '__qualname__', owner)}.{name} has no default")


def option(
    p: argparse.ArgumentParser,
    *flags: str,
    of=None,
    field: str | None = None,
    default: Any = _NO_DEFAULT,
    help: str = "",
    **kw,
) -> argparse.Action:
    """Add a flag whose default is `of.field` (field: the first flag's name in snake case), or, without `of`,
    the command line's own `default`. A bool default makes a switch that flips it (--skip, --no-umap)."""
    name = field or flags[0].lstrip("-").replace("-", "_")
    if of is not None:
        if default is not _NO_DEFAULT:
            raise TypeError(f"{flags[0]}: a default read from {of.__qualname__} is not given again")
        default = default_of(of, name)
    elif default is _NO_DEFAULT:
        raise TypeError(f"{flags[0]}: give the owner of its default (of=...) or the command line's own default")
    if isinstance(default, bool) and "action" not in kw:
        kw["action"] = "store_false" if default else "store_true"
    elif "type" not in kw and "action" not in kw and isinstance(default, (int, float, str)):
        kw["type"] = type(default)
    if "dest" not in kw and field is not None:
        kw["dest"] = field
    if kw.get("action") is None and "metavar" not in kw and "choices" not in kw:
        kw["metavar"] = flags[0].lstrip("-").replace("-", "_").upper()  # --l1 L1, not its field SPARSITY_COEF
    shown = "" if isinstance(default, bool) or default in (None, "", ()) else " (default: %(default)s)"
    action = p.add_argument(*flags, default=default, help=(help + shown).strip() or None, **kw)
    action.owner = of  # read by the test that every default is derived or declared
    action.owner_field = name
    return action
