"""Filling a job's run-time inputs (upstream ids, uploaded files, upstream text) into its body."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from leobatch.errors import PlanError
from leobatch.plan.jobs import UPSTREAM_TEXT, Job

__all__ = ["fill_body"]


def fill_body(job: Job, values: Mapping[str, str]) -> dict[str, Any]:
    """The wire body of ``job`` with every run-time input set.

    ``values`` maps each input's ``field`` to its value: an id for ``upstream`` and ``file``
    inputs, the upstream's text for ``upstream-text`` (which replaces the marker in the string).
    """
    body: dict[str, Any] = copy.deepcopy(dict(job.body))
    for item in job.inputs:
        if item.field not in values:
            raise PlanError(f"job {job.key[:12]} ({job.stage}): no value for {item.field}")
        value = values[item.field]
        if item.source == "upstream-text":
            current = _get(body, item.field)
            if not isinstance(current, str):
                raise PlanError(f"job {job.key[:12]}: {item.field} is not a text template")
            value = current.replace(UPSTREAM_TEXT, value)
        _set(body, item.field, value)
    return body


def _parts(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _get(body: Any, path: str) -> Any:
    node = body
    for part in _parts(path):
        node = node[part]
    return node


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    parts = _parts(path)
    node: Any = body
    for part, following in itertools.pairwise(parts):
        if isinstance(part, int):
            while len(node) <= part:
                node.append({} if isinstance(following, str) else [])
            node = node[part]
        else:
            node = node.setdefault(part, [] if isinstance(following, int) else {})
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value
