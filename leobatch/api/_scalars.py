"""Lenient readers for JSON scalars: the wrong type gives ``None``, never an exception."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["as_bool", "as_int", "as_list", "as_map", "as_number", "as_str"]

_EMPTY: Mapping[str, Any] = {}


def as_str(value: Any) -> str | None:
    """A string, or ``None``. Numbers are not strings (an id is never a number)."""
    return value if isinstance(value, str) else None


def as_number(value: Any) -> float | None:
    """A finite number, also from a numeric string (``"0.0147"``); ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """An integral number (``12``, ``12.0``, ``"12"``) as int; ``None`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = as_number(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def as_bool(value: Any) -> bool | None:
    """A JSON boolean, or ``None``."""
    return value if isinstance(value, bool) else None


def as_map(value: Any) -> Mapping[str, Any]:
    """A JSON object, or an empty mapping."""
    return value if isinstance(value, Mapping) else _EMPTY


def as_list(value: Any) -> Sequence[Any]:
    """A JSON array, or an empty tuple."""
    return value if isinstance(value, list) else ()
