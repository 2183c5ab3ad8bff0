"""Text in other scripts from packages' translation data: CLDR (Babel) and Django's message catalogues.

Both ship real translations written by people: CLDR's names of countries,
languages, currencies, units and cities in each locale, and Django's
translated interface messages. They are needed only to rebuild the corpus
snapshot (`pip install 'monoscope[corpus]'`); the snapshot itself ships.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

from monoscope.errors import MonoscopeError

# script -> locales whose text is written in it (CLDR / Django locale codes)
SCRIPT_LOCALES = {
    "arabic": ("ar", "fa", "ur", "ps"),
    "hebrew": ("he", "yi"),
    "cyrillic": ("ru", "uk", "bg", "sr", "mk", "be", "kk"),
    "greek": ("el",),
    "cjk": ("zh_Hans", "zh_Hant", "ja", "ko"),
    "devanagari": ("hi", "mr", "ne"),
}
CLDR_KEYS = ("territories", "languages", "currencies", "scripts", "unit_display_names", "time_zones", "variants")
_DJANGO_CODES = {"zh_Hans": "zh_Hans", "zh_Hant": "zh_Hant"}


def need(module: str):
    """Import an optional corpus source, or say in one line how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MonoscopeError(
            f"rebuilding the built-in corpus needs {module!r}: pip install 'monoscope[corpus]'"
        ) from None


def _flat(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif hasattr(value, "values"):
        for v in value.values():
            yield from _flat(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flat(v)


def cldr_texts(locale: str) -> Iterator[tuple[str, str]]:
    """(text, source) per CLDR table of one locale: one name per line, in CLDR's order."""
    babel = need("babel")
    loc = babel.Locale.parse(locale)
    for key in CLDR_KEYS:
        try:
            table = getattr(loc, key)
        except (AttributeError, KeyError):
            continue
        names = []
        for v in _flat(table):
            v = v.strip()
            if v and not v.isascii() and v not in names:
                names.append(v)
        if names:
            yield "\n".join(names) + "\n", f"babel/cldr/{locale}/{key}"
    months = loc.months.get("format", {}).get("wide", {})
    days = loc.days.get("format", {}).get("wide", {})
    cal = [months[k] for k in sorted(months)] + [days[k] for k in sorted(days)]
    if cal:
        yield "\n".join(cal) + "\n", f"babel/cldr/{locale}/calendar"


_MSGSTR = re.compile(r'^msgstr(?:\[\d+\])?\s+(".*")\s*$')
_CONT = re.compile(r'^(".*")\s*$')


def po_strings(path: Path) -> list[str]:
    """The translated strings (msgstr) of a gettext catalogue, in file order."""
    out, cur, inside = [], [], False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _MSGSTR.match(line)
        if m:
            if cur:
                out.append("".join(cur))
            cur, inside = [ast.literal_eval(m.group(1))], True
        elif inside and _CONT.match(line):
            cur.append(ast.literal_eval(_CONT.match(line).group(1)))
        else:
            if cur:
                out.append("".join(cur))
            cur, inside = [], False
    if cur:
        out.append("".join(cur))
    return [s.strip() for s in out if s.strip() and not s.startswith("Project-Id-Version")]


def django_texts(locale: str) -> Iterator[tuple[str, str]]:
    """(text, source) per Django catalogue of one locale: its translated messages, one per line."""
    django = need("django")
    root = Path(django.__file__).parent
    code = _DJANGO_CODES.get(locale, locale)
    for po in sorted(root.glob(f"**/locale/{code}/LC_MESSAGES/*.po")):
        lines = po_strings(po)
        if lines:
            yield "\n".join(lines) + "\n", f"django/{po.relative_to(root)}"
