"""Job identity (DESIGN section 6): the sha256 of the canonical request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from leobatch.plan.jobs import Upstream

__all__ = ["canonical_json", "inputs_digest", "job_key"]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )


def job_key(
    kind: str,
    endpoint: str,
    body: Mapping[str, Any],
    upstream: Upstream | None,
    file_hashes: Iterable[str],
) -> str:
    """The job's key: sha256 hex of its kind, endpoint, body, upstream and local files."""
    identity = {
        "kind": kind,
        "endpoint": endpoint,
        "body": body,
        "upstream": None if upstream is None else [upstream.key, upstream.output],
        "files": sorted(file_hashes),
    }
    return hashlib.sha256(canonical_json(identity).encode("utf-8")).hexdigest()


def inputs_digest(files: Iterable[tuple[str, str]]) -> str:
    """sha256 over every (path, sha256) the recipe reads, so a stale plan can be refused."""
    lines = sorted({f"{path}\0{digest}" for path, digest in files})
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
