"""Carrying out a clean (:mod:`leobatch.run.clean` plans it): remote deletions journaled first,
then the files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from leobatch.api.client import LeonardoClient
from leobatch.errors import NotFoundError
from leobatch.run.clean import Cleaned, CleanItem, CleanPlan
from leobatch.run.cleanups import Cleanup, CleanupStatus, cleanups, record_cleanup
from leobatch.run.journal import Journal
from leobatch.run.prune import _delete, _rmdir

__all__ = ["apply_local", "apply_remote"]


async def apply_remote(
    client: LeonardoClient,
    journal: Journal,
    clean: CleanPlan,
    *,
    on_step: Callable[[CleanItem, str], None] = lambda item, status: None,
    forget_upload: Callable[[str], None] = lambda image_id: None,
) -> Cleaned:
    """Delete ``clean``'s remote items: generations, then check their variations, then uploads.

    Each DELETE is journaled (*deleting*) before it is sent; one found *deleting* (a clean
    killed there) is first looked up, and deleted only if the API still has it.
    """
    result = Cleaned()
    steps = cleanups(journal)
    for item in clean.having("delete", remote=True):
        if item.target not in ("generation", "init-image"):
            continue
        status = await _delete_one(client, journal, item, steps.get((item.target, item.ident)))
        if status == "deleted" and item.target == "init-image":
            forget_upload(item.ident)
        result.add(item.target, status)
        on_step(item, status)
    for item in clean.having("with"):
        if item.target == "variation":
            still = await client.get_variation(item.ident)
        else:
            still = await client.get_motion_variation(item.ident)
        if still is None:
            record_cleanup(journal, item.target, item.ident, item.job_key, "deleted",
                           f"with generation {item.via}")  # fmt: skip
            result.add(item.target, "deleted")
            on_step(item, "deleted")
        else:
            why = "still on the account after its generation was deleted (no variation delete)"
            record_cleanup(journal, item.target, item.ident, item.job_key, "kept", why)
            result.kept.append(CleanItem(item.target, item.ident, item.job_key, item.stage,
                                         "kept", why, via=item.via))  # fmt: skip
            on_step(item, "kept")
    return result


async def _delete_one(
    client: LeonardoClient, journal: Journal, item: CleanItem, before: Cleanup | None
) -> str:
    generation = item.target == "generation"
    if before is not None and before.status == "deleting":
        # Killed after journaling the DELETE: it may have been sent. Look before deleting.
        if generation:
            present = await client.get_generation(item.ident) is not None
        else:
            present = await client.get_init_image(item.ident) is not None
        if not present:
            record_cleanup(journal, item.target, item.ident, item.job_key, "deleted",
                           "found gone when an interrupted clean resumed")  # fmt: skip
            return "deleted"
    record_cleanup(journal, item.target, item.ident, item.job_key, "deleting")
    try:
        if generation:
            await client.delete_generation(item.ident)
        else:
            await client.delete_init_image(item.ident)
    except NotFoundError:
        record_cleanup(journal, item.target, item.ident, item.job_key, "gone", "already gone")
        return "gone"
    record_cleanup(journal, item.target, item.ident, item.job_key, "deleted")
    return "deleted"


def apply_local(
    journal: Journal,
    clean: CleanPlan,
    *,
    on_step: Callable[[CleanItem, str], None] = lambda item, status: None,
) -> Cleaned:
    """Delete ``clean``'s files (each checked again as it is deleted), then empty folders."""
    result = Cleaned()
    root = clean.output_dir
    folders: set[tuple[str, ...]] = set()
    for item in clean.having("delete", "missing", remote=False):
        assert item.output is not None
        fate = _delete(root, item.output, clean.claimed) if item.action == "delete" else None
        if fate is not None and fate.action == "kept":
            result.kept.append(CleanItem("file", item.ident, item.job_key, item.stage, "kept",
                                         fate.why, output=item.output))  # fmt: skip
            on_step(item, "kept")
            continue
        status: CleanupStatus = (
            "deleted" if fate is not None and fate.action == "delete" else "gone"
        )
        record_cleanup(journal, "file", item.ident, item.job_key, status)
        result.add("file", status)
        if fate is not None and fate.action == "delete":
            result.bytes += fate.bytes or 0
            parts = PurePosixPath(item.ident).parts[:-1]
            folders.update(parts[:n] for n in range(1, len(parts) + 1))
        on_step(item, status)
    result.folders = sum(_rmdir(root, p) for p in sorted(folders, key=len, reverse=True))
    return result
