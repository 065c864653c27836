"""Matrix axes read from files: .csv rows, .jsonl objects, .txt lines.

Files resolve relative to the recipe and must stay inside the recipe's folder tree (symlinks
included): a recipe is untrusted input and may not read anything else.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["AxisFileError", "confined", "read_axis_file"]

MAX_BYTES = 64 * 1024 * 1024


class AxisFileError(Exception):
    """The file cannot be used as an axis; the message says why."""


def confined(folder: Path, relative: str) -> Path:
    """``relative`` resolved against ``folder``; raises AxisFileError if it leaves the folder."""
    if not relative or "\x00" in relative:
        raise AxisFileError("empty or invalid path")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise AxisFileError(f"{relative!r} is absolute; use a path inside the recipe's folder")
    root = folder.resolve()
    resolved = (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise AxisFileError(f"{relative!r} is outside the recipe's folder")
    return resolved


def read_axis_file(folder: Path, relative: str) -> tuple[tuple[Any, ...], str]:
    """The axis values in the file and the file's sha256."""
    path = confined(folder, relative)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise AxisFileError(f"{relative!r} is larger than {MAX_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except OSError as e:
        raise AxisFileError(f"cannot read {relative!r}: {e.strerror or e}") from e
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise AxisFileError(f"{relative!r} is not UTF-8 text") from e
    suffix = path.suffix.lower()
    values: tuple[Any, ...]
    if suffix == ".csv":
        values = _csv(text, relative)
    elif suffix == ".jsonl":
        values = _jsonl(text, relative)
    elif suffix == ".txt":
        values = tuple(s for s in (line.strip() for line in text.splitlines()) if s)
    else:
        raise AxisFileError(f"{relative!r}: an axis file must be .csv, .jsonl or .txt")
    if not values:
        raise AxisFileError(f"{relative!r} has no values")
    return values, digest


def _csv(text: str, relative: str) -> tuple[dict[str, str], ...]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = reader.fieldnames or []
        if not header or any(not h or not h.strip() for h in header):
            raise AxisFileError(f"{relative!r}: the first row must name every column")
        if len(set(header)) != len(header):
            raise AxisFileError(f"{relative!r}: duplicate column names in the header")
        rows = []
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise AxisFileError(
                    f"{relative!r} line {reader.line_num}: row has a different number of columns"
                )
            rows.append({k.strip(): v for k, v in row.items() if k is not None})
    except csv.Error as e:
        raise AxisFileError(f"{relative!r}: bad CSV: {e}") from e
    return tuple(rows)


def _jsonl(text: str, relative: str) -> tuple[dict[str, Any], ...]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            raise AxisFileError(f"{relative!r} line {number}: not JSON ({e})") from e
        if not isinstance(value, dict):
            raise AxisFileError(f"{relative!r} line {number}: each line must be a JSON object")
        if any(isinstance(v, float) and not math.isfinite(v) for v in value.values()):
            raise AxisFileError(f"{relative!r} line {number}: numbers must be finite")
        rows.append(value)
    return tuple(rows)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")
