"""Expansion limits, in a module of their own so the CLI can show them without importing Jinja."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_JOBS"]

#: A recipe expanding to more jobs than this is refused unless ``--max-jobs`` raises it.
DEFAULT_MAX_JOBS = 100_000
