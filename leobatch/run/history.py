"""``leobatch history``: the account's generations, each with the recipe, stage and job that
made it when a journal on this machine knows it.

The journals are those the account database registers (every run registers its output
directory: :mod:`leobatch.run.account_records`), plus any named by the caller (a recipe's own,
run before the registry existed). A remote id is matched against every attempt of every job, so
a FAILED first attempt that a retry replaced is still known as leobatch's. The listing is paged
(``GET /generations/user/{userId}``, newest first, 50 a page, no total): paging stops at the
first generation older than ``since``, or once ``limit`` generations are listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from leobatch.api.client import Generation, LeonardoClient
from leobatch.run.journal import Journal

__all__ = ["HistoryRow", "MadeBy", "history", "index_journals", "parse_since"]

#: Rows asked for per listing page.
PAGE = 50


@dataclass(frozen=True, slots=True)
class MadeBy:
    """The job (and attempt) of a recipe's journal that a remote id belongs to."""

    recipe: str | None
    output_dir: Path
    stage: str
    job_key: str
    kind: str
    model: str | None
    attempt: int
    current: bool
    credits_charged: int | None
    files: tuple[Path, ...]

    def to_json(self) -> dict[str, Any]:
        """As ``history --json`` prints it."""
        return {
            "recipe": self.recipe,
            "output_dir": str(self.output_dir),
            "stage": self.stage,
            "job": self.job_key,
            "kind": self.kind,
            "attempt": self.attempt,
            "current_attempt": self.current,
        }


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One generation of the account (or a variation of one of its images)."""

    id: str
    type: str  # "generation" | "variation"
    parent: str | None  # a variation's generation
    created_at: str | None
    status: str
    model: str | None
    credits: int | None
    made_by: MadeBy | None

    def to_json(self) -> dict[str, Any]:
        """As ``history --json`` prints it."""
        by = self.made_by
        return {
            "id": self.id,
            "type": self.type,
            "parent": self.parent,
            "created_at": self.created_at,
            "status": self.status,
            "model": self.model,
            "credits": self.credits,
            "made_by": by.to_json() if by is not None else None,
            "files": [str(f) for f in by.files] if by is not None else [],
        }


def index_journals(output_dirs: Iterable[Path]) -> dict[str, MadeBy]:
    """Remote id -> the job that made it, over every readable journal in ``output_dirs``."""
    index: dict[str, MadeBy] = {}
    for directory in dict.fromkeys(Path(d).resolve() for d in output_dirs):
        if not Journal.exists(directory):
            continue
        with Journal.open_readonly(directory) as journal:
            recipe = journal.meta().get("recipe")
            outputs = journal.all_outputs()
            for state in journal.jobs():
                files = tuple(
                    directory / o.path for o in outputs.get(state.key, ()) if o.downloaded
                )
                for attempt in journal.attempts(state.key):
                    if attempt.remote_id is None:
                        continue
                    current = attempt.remote_id == state.remote_id
                    index[attempt.remote_id] = MadeBy(
                        recipe,
                        directory,
                        state.stage,
                        state.key,
                        state.kind,
                        state.model,
                        attempt.attempt,
                        current,
                        None if attempt.refunded else attempt.credits_charged,
                        files if current else (),
                    )
    return index


def parse_since(text: str) -> datetime:
    """``--since``: an ISO date (``2026-11-30``) or date-time (UTC unless it says otherwise)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _created(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_since(text)
    except ValueError:
        return None


async def history(
    client: LeonardoClient,
    user_id: str,
    index: Mapping[str, MadeBy],
    *,
    since: datetime | None = None,
    limit: int | None = None,
    only: frozenset[str] | None = None,
) -> tuple[tuple[HistoryRow, ...], int]:
    """The account's generations newest first (each followed by its variations), and the
    number of listing pages read. ``only``: keep just the generations whose own id, or one of
    whose variations' ids, is in it (a recipe's history)."""
    rows: list[HistoryRow] = []
    listed, offset, pages = 0, 0, 0
    while limit is None or listed < limit:
        page = await client.list_generations(user_id, offset=offset, limit=PAGE)
        pages += 1
        for generation in page:
            created = _created(generation.created_at)
            if since is not None and created is not None and created < since:
                return tuple(rows), pages
            found = _rows(generation, index)
            if only is not None and not any(r.id in only for r in found):
                continue
            rows.extend(found)
            listed += 1
            if limit is not None and listed >= limit:
                break
        if len(page) < PAGE:
            break
        offset += len(page)
    return tuple(rows), pages


def _rows(generation: Generation, index: Mapping[str, MadeBy]) -> list[HistoryRow]:
    """A generation's row, then one per variation of its images."""
    by = index.get(generation.id)
    model = by.model if by is not None else _model_name(generation.model_id)
    credits = by.credits_charged if by is not None else None
    rows = [
        HistoryRow(
            generation.id,
            "generation",
            None,
            generation.created_at,
            generation.status,
            model,
            credits,
            by,
        )
    ]
    for image in generation.raw.get("generated_images") or ():
        if not isinstance(image, Mapping):
            continue
        for variation in image.get("generated_image_variation_generics") or ():
            if not isinstance(variation, Mapping) or not isinstance(variation.get("id"), str):
                continue
            vid = variation["id"]
            vby = index.get(vid)
            transform = variation.get("transformType")
            rows.append(
                HistoryRow(
                    vid,
                    "variation",
                    generation.id,
                    variation.get("createdAt"),
                    str(variation.get("status") or "?"),
                    vby.model if vby is not None and vby.model else _lower(transform),
                    vby.credits_charged if vby is not None else None,
                    vby,
                )
            )
    return rows


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _model_name(model_id: str | None) -> str | None:
    """A listing's ``modelId`` as the catalogue's slug when it knows it (v2 rows have none)."""
    if model_id is None:
        return None
    from leobatch import catalog

    model = catalog.find_model(model_id)
    return model.slug if model is not None else model_id
