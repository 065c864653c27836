"""Suggestions for template mistakes: an undefined name, an unknown filter or test.

Jinja says only what is missing; the names the template could have meant are in its context
(vars, matrix axes, leobatch's own names) and in the sandbox's filters and tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from leobatch.catalog import suggest

__all__ = ["undefined_message", "unknown_name_message"]

_UNDEFINED = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)' is undefined$")
_NO_SUCH = re.compile(r"^No (filter|test) named '([^']+)'\.?$")


def undefined_message(message: str, names: Iterable[str]) -> str:
    """Jinja's undefined-name ``message``, with the closest of ``names`` suggested."""
    match = _UNDEFINED.match(message)
    if match is None:
        return message
    near = suggest(match.group(1), (n for n in names if not n.startswith("_")))
    return message if near is None else f"{message}; did you mean {near!r}?"


def unknown_name_message(message: str, filters: Iterable[str], tests: Iterable[str]) -> str | None:
    """``no filter 'lowr'; did you mean 'lower'?`` for Jinja's unknown filter or test
    ``message``; ``None`` for any other message."""
    match = _NO_SUCH.match(message)
    if match is None:
        return None
    what, name = match.groups()
    near = suggest(name, filters if what == "filter" else tests)
    return f"no {what} {name!r}" + (f"; did you mean {near!r}?" if near else "")
