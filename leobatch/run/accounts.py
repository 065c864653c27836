"""Several API keys in one run: which keys, which accounts, and which account renders which job.

A team with several Production API keys (each its own account: slots, rate limits, balance)
spreads one run over them. Ids are per account, so a pipeline stays on one account (a cutout is
made from *that* account's image), and a job once sent stays on the account it was sent on: the
journal records each job's account by its fingerprint (``leobatch.account_store``), never the
key. A resume re-attaches every job on its own account, and a job is never sent on two.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from leobatch.errors import AuthError
from leobatch.plan.jobs import Job

__all__ = [
    "KEYS_VAR",
    "AccountSlot",
    "Assignment",
    "KeySpec",
    "assign_jobs",
    "keys_from",
]

#: Comma-separated API keys: one run over several accounts.
KEYS_VAR = "LEONARDO_API_KEYS"
#: A job in one of these states holds something on its account (a create out, an id, an output
#: its downstream jobs are made from): it, and its whole pipeline, stay there.
_ANCHORED = frozenset({"submitting", "submitted", "complete"})


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One API key and the API root it is for (``None``: ``LEONARDO_API_BASE_URL`` or the real
    API). ``where`` says where it was given, for messages (the key itself is never shown)."""

    key: str = field(repr=False)
    base_url: str | None
    where: str


def keys_from(keys_file: Path | None, env: Mapping[str, str] | None = None) -> list[KeySpec]:
    """The keys a run is given: ``--keys FILE`` (one key per line, optionally followed by the API
    root it is for; ``#`` starts a comment), else ``LEONARDO_API_KEYS`` (comma-separated), else
    none (the caller uses ``LEONARDO_API_KEY``). A key given twice is refused."""
    from leobatch.api._config import check_base_url, check_key

    source = os.environ if env is None else env
    specs: list[KeySpec] = []
    if keys_file is not None:
        try:
            text = keys_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
            raise AuthError(f"cannot read the keys file {keys_file}: {reason}") from e
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            where = f"{keys_file}:{number}"
            parts = line.split()
            if len(parts) > 2:
                raise AuthError(f"{where}: a line holds a key and, optionally, its API root")
            key = _checked(check_key, parts[0], where)
            base = _checked(check_base_url, parts[1], where) if len(parts) == 2 else None
            specs.append(KeySpec(key, base, where))
        if not specs:
            raise AuthError(f"the keys file {keys_file} holds no key")
    elif source.get(KEYS_VAR, "").strip():
        for number, part in enumerate(source[KEYS_VAR].split(","), start=1):
            if part.strip():
                where = f"{KEYS_VAR} entry {number}"
                specs.append(KeySpec(_checked(check_key, part, where), None, where))
    seen: dict[tuple[str, str | None], str] = {}
    for spec in specs:
        first = seen.setdefault((spec.key, spec.base_url), spec.where)
        if first != spec.where:
            raise AuthError(f"{spec.where}: the same key as {first}")
    return specs


def _checked(check: object, value: str, where: str) -> str:
    """``check(value)``, its error located at ``where`` (the value is never quoted)."""
    from leobatch.errors import LeobatchError

    try:
        return check(value)  # type: ignore[operator, no-any-return]
    except LeobatchError as e:
        raise type(e)(f"{where}: {e}") from e


@dataclass(frozen=True, slots=True)
class AccountSlot:
    """One account of a run: its fingerprint, a label for people and its slots (from ``/me``)."""

    fingerprint: str
    label: str
    slots: int
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class Assignment:
    """Which account renders which job. ``jobs`` maps each account's fingerprint to the keys
    of its jobs; ``stranded`` maps an account no key of this run reaches to the unfinished jobs
    that must stay there (sent, or downstream of an output that lives there)."""

    jobs: Mapping[str, frozenset[str]]
    stranded: Mapping[str, tuple[str, ...]]

    def stranded_among(self, keys: frozenset[str] | None) -> dict[str, tuple[str, ...]]:
        """The stranded jobs that are among ``keys`` (all of them for ``None``), per account."""
        picked = {
            fp: tuple(k for k in stuck if keys is None or k in keys)
            for fp, stuck in self.stranded.items()
        }
        return {fp: stuck for fp, stuck in picked.items() if stuck}

    def account_of(self, key: str) -> str | None:
        """The fingerprint of the account that renders ``key``, if any does."""
        for fingerprint, keys in self.jobs.items():
            if key in keys:
                return fingerprint
        return None


def assign_jobs(
    jobs: Sequence[Job],
    accounts: Sequence[AccountSlot],
    journaled: Mapping[str, tuple[str, str | None]],
    *,
    legacy: str | None = None,
) -> Assignment:
    """Spread ``jobs`` (a plan's, upstream first) over ``accounts``, whole pipelines at a time.

    ``journaled`` maps a job key to its journaled ``(status, account fingerprint)``. A pipeline
    with a job that holds something on an account (a create out, an id, an output) stays on that
    account; one journaled before accounts were recorded belongs to ``legacy`` (the journal's
    one account, when known). Every other pipeline goes to the account with the least work per
    slot, in plan order (deterministic: the same plan and journal give the same assignment).
    """
    if not accounts:
        raise ValueError("no account to assign jobs to")
    pipelines: dict[str, list[Job]] = {}
    root_of: dict[str, str] = {}
    for job in jobs:  # upstream jobs come first in a plan
        root = root_of.get(job.upstream.key, job.upstream.key) if job.upstream else job.key
        root_of[job.key] = root
        pipelines.setdefault(root, []).append(job)
    known = {a.fingerprint: a for a in accounts}
    chosen: dict[str, set[str]] = {a.fingerprint: set() for a in accounts}
    load = dict.fromkeys(known, 0)
    stranded: dict[str, list[str]] = {}
    free: list[list[Job]] = []
    for members in pipelines.values():
        anchor = _anchor(members, journaled, legacy)
        if anchor is None:
            free.append(members)
            continue
        unfinished = [
            j.key for j in members if journaled.get(j.key, ("planned", None))[0] != "complete"
        ]
        if anchor in known:
            chosen[anchor].update(j.key for j in members)
            load[anchor] += len(unfinished)
        elif unfinished:
            stranded.setdefault(anchor, []).extend(unfinished)
    for members in free:
        best = min(accounts, key=lambda a: (load[a.fingerprint] + len(members)) / a.slots)
        chosen[best.fingerprint].update(j.key for j in members)
        load[best.fingerprint] += len(members)
    return Assignment(
        {fp: frozenset(keys) for fp, keys in chosen.items()},
        {fp: tuple(keys) for fp, keys in stranded.items()},
    )


def _status(journaled: Mapping[str, tuple[str, str | None]], job: Job) -> str:
    return journaled.get(job.key, ("planned", None))[0]


def _anchor(
    members: Sequence[Job], journaled: Mapping[str, tuple[str, str | None]], legacy: str | None
) -> str | None:
    """The account a pipeline is bound to (its upstream-most job holding something), if any."""
    for job in members:
        status, account = journaled.get(job.key, ("planned", None))
        if status in _ANCHORED:
            return account or legacy or "unknown"
    return None
