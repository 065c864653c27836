"""Default output paths: files named by their matrix values, downstream files by their source.

Used only when the recipe gives no ``output.path``; an explicit ``output.path`` is rendered as
written (:mod:`leobatch.plan.expand`). Names are made of *parts*, one per matrix value, in axis
order (the recipe's axes, then the stage's own, then keys only an ``include`` entry names):

- a string is a slug: lowercased, every run of characters outside ``[a-z0-9._]`` becomes ``-``,
  ``-`` and ``.`` trimmed from the ends (``Lightning XL`` -> ``lightning-xl``);
- a number, a bool or null is prefixed by its axis name: ``seed11``, ``mult1.5``, ``hdtrue``;
- a mapping is named by its ``name``, ``id`` or ``slug`` key (the first it has, as above), a
  mapping without one and a list by the axis name and a short hash of the value's canonical
  JSON (``shot-3f2a9c1b``), as is a string with nothing left once slugged (``日本``).

Every axis is named, also one with a single value: a file keeps its name when the matrix grows,
and a name read out of context still says which model made it.

- A root job writes ``{stage}/{parts}-{index}.{ext}``; with no matrix value at all the stage name
  stands for the parts (``hero/hero-0.jpg``).
- A downstream job is named after its source file: the stem of the upstream output it consumes
  (which holds the upstream's index), then its own stage-local values, then ``-{index}`` only
  when it yields more than one output: ``shot/lightning-xl-seed11-0.jpg`` ->
  ``cutout/lightning-xl-seed11-0.png`` -> ``large/lightning-xl-seed11-0-mult1.5.jpg``. After an
  ``improve-prompt`` (which yields no file) the source is that job's parts.
- When two jobs would write the same path (compared case-insensitively, as on macOS and
  Windows), every one of them writes the key form instead, ``{stage}/{job}-{index}.{ext}``
  (``job``: the first 12 hex digits of its key), so the outcome does not depend on job order; so
  does a job whose name is too long for the file system. A stage's downstream jobs are named
  after the stage is settled, so they follow its key-form files too.

Paths never feed a job's key (the key is the request's hash), and the run engine keeps the path
the journal recorded for a job already rendered: changing the default renames nothing on disk
(a job not yet rendered below one rendered under the old default is named after the new name
of its source, not the old file's). Cost: each distinct value is named once per plan; a
10,000-job plan spends less on its paths than it did rendering the old default's template.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from leobatch.plan.jobs import Job
from leobatch.plan.outputs import BadPath, normalise
from leobatch.recipe.model import Stage

__all__ = [
    "KEY_CHARS",
    "DefaultPaths",
    "Namer",
    "colliding",
    "key_paths",
    "slug",
    "source_stem",
    "stem_paths",
    "value_part",
]

#: Characters a name keeps; every run of any other character becomes one ``-``.
_OUTSIDE = re.compile(r"[^a-z0-9._]+")
#: Keys that name a mapping value, in order of preference.
_NAME_KEYS = ("name", "id", "slug")
#: Hex digits of a value's hash in its part: 32 bits, enough to tell an axis's values apart.
_HASH_CHARS = 8
#: Characters of the key in the key form (the old default's ``{{ job }}``).
KEY_CHARS = 12
#: Checks that a path fits the file system under output.dir (BadPath when not).
Fits = Callable[[str], None]


def slug(text: str) -> str:
    """``text`` lowercased, runs outside ``[a-z0-9._]`` as ``-``, ``-`` and ``.`` trimmed
    (a leading dot would hide the file, and ``..`` is no name)."""
    return _OUTSIDE.sub("-", text.lower()).strip("-.")


def _hashed(axis: str, value: Any) -> str:
    # default=str: a YAML date is a value too; sort_keys: one value, one text.
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    return f"{slug(axis) or 'value'}-{digest}"


def _scalar(axis: str, value: Any) -> str | None:
    """A scalar's part, or None when ``value`` is a mapping or a list."""
    if value is None or isinstance(value, (bool, int, float)):
        if value is None or isinstance(value, bool):
            text = json.dumps(value)  # null, true, false: as the YAML says them
        elif isinstance(value, float):
            text = repr(value).replace("e+", "e")  # 1e+20 would slug to the misleading 1e-20
        else:
            text = str(value)
        # Not slugged: a number's characters are safe, and '-1' must not read as '1'.
        return slug(axis) + text.lower()
    if isinstance(value, (Mapping, list, tuple)):
        return None
    return slug(str(value)) or _hashed(axis, value)


def value_part(axis: str, value: Any) -> str:
    """The part naming ``value`` of axis ``axis`` (see the module docstring)."""
    part = _scalar(axis, value)
    if part is not None:
        return part
    if isinstance(value, Mapping):
        for key in _NAME_KEYS:
            named = value.get(key)
            if named is not None and not isinstance(named, (Mapping, list, tuple)):
                part = _scalar(axis, named)
                if part:
                    return part
    return _hashed(axis, value)


class Namer:
    """Names jobs by their values; each distinct value is named once per plan, not per job
    (hashing a CSV row for each of 10,000 jobs would cost a good part of the plan's time)."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        # Scalars are keyed by type and value (1, 1.0 and True name differently); mappings and
        # lists by id, the value kept in the entry so that its id is not reused meanwhile.
        self._parts: dict[tuple[Any, ...], tuple[Any, str]] = {}

    def part(self, axis: str, value: Any) -> str:
        """:func:`value_part`, remembered."""
        if value is None or isinstance(value, (str, int, float)):
            key: tuple[Any, ...] = (axis, type(value), value)
        else:
            key = (axis, id(value))
        hit = self._parts.get(key)
        if hit is None:
            hit = self._parts[key] = (value, value_part(axis, value))
        return hit[1]

    def parts(self, values: Mapping[str, Any], order: Sequence[str]) -> str:
        """``values`` as parts joined by ``-``: axes in ``order`` first, other keys as written."""
        names = [name for name in order if name in values]
        if len(names) < len(values):
            known = set(names)
            names.extend(name for name in values if name not in known)
        return "-".join([self.part(name, values[name]) for name in names])

    def root_stem(self, stage: str, values: Mapping[str, Any], order: Sequence[str]) -> str:
        """A root job's name before its index: its parts, or the stage's name with none."""
        return self.parts(values, order) or slug(stage)

    def downstream_stem(self, source: str, local: Mapping[str, Any], order: Sequence[str]) -> str:
        """A downstream job's name: its source's stem, then its own stage-local values."""
        own = self.parts(local, order)
        return f"{source}-{own}" if own and source else source or own


def source_stem(paths: Sequence[str], index: int, fallback: str) -> str:
    """The stem of upstream output ``index`` (its file name less the extension); ``fallback``
    (the upstream job's parts) when that output has no file, as after ``improve-prompt``."""
    if index >= len(paths):
        return fallback
    stem, _ext = posixpath.splitext(posixpath.basename(paths[index]))
    return stem


def stem_paths(stage: str, stem: str, outputs: int, ext: str, *, always_index: bool) -> list[str]:
    """The job's paths under ``stage``; ``-{index}`` after the stem when ``always_index`` or
    there is more than one output."""
    if outputs == 1 and not always_index:
        return [f"{stage}/{stem}.{ext}"]
    return [f"{stage}/{stem}-{index}.{ext}" for index in range(outputs)]


def key_paths(stage: str, key: str, outputs: int, ext: str) -> list[str]:
    """The key form: ``{stage}/{job}-{index}.{ext}``, the fallback that is always unique."""
    job = key[:KEY_CHARS]
    return [f"{stage}/{job}-{index}.{ext}" for index in range(outputs)]


def colliding(candidates: Iterable[Sequence[str]], taken: set[str] | None = None) -> set[int]:
    """Positions of the candidates (each a job's paths) that share a path with another
    candidate or with ``taken`` (casefolded paths, compared casefolded)."""
    owners: dict[str, int] = {}
    hit: set[int] = set()
    for position, paths in enumerate(candidates):
        for path in paths:
            if taken and path.casefold() in taken:
                hit.add(position)
            first = owners.setdefault(path, position)
            if first != position:
                hit.update((first, position))
    return hit


class DefaultPaths:
    """The default paths of one plan's jobs: proposed as each job is made, settled (collisions
    turned into key forms) once its stage is complete, before any downstream job is named.

    Within a stage the paths share their folder and every part is lowercase ASCII, so paths
    that differ only by case are the same string: comparing strings is the case-insensitive
    comparison, without a casefolded copy of every path. Across stages only the folders can
    differ by case: stages whose names casefold alike are compared casefolded.
    """

    def __init__(
        self, root_axes: Sequence[str], stages: Iterable[str], feeds: Iterable[str], fits: Fits
    ) -> None:
        self._root_axes = tuple(root_axes)
        self._fits = fits
        self._feeds = frozenset(feeds)
        self._namer = Namer()
        self._stems: dict[str, str] = {}  # key -> name, for the jobs of stages that feed others
        folded = [name.casefold() for name in stages]
        self._twins: dict[str, set[str]] = {f: set() for f in folded if folded.count(f) > 1}

    def propose(
        self,
        stage: Stage,
        key: str,
        matrix: Mapping[str, Any],
        outputs: int,
        ext: str,
        extra: Mapping[str, Any],
        upstream: Job | None,
        index: int,
    ) -> tuple[str, ...]:
        """The readable paths of job ``key`` (``matrix``: its values, ``extra``: its own
        stage's, ``upstream``: the job whose output ``index`` it consumes), or its key form
        when they would not fit the file system; BadPath when neither does."""
        local = tuple(axis.name for axis in stage.matrix.axes)
        if upstream is None:
            stem = self._namer.root_stem(stage.name, matrix, self._root_axes + local)
        else:
            source = source_stem(upstream.paths, index, self._stems.get(upstream.key, ""))
            stem = self._namer.downstream_stem(source, extra, local)
        if stage.name in self._feeds:
            self._stems[key] = stem
        paths = stem_paths(stage.name, stem, outputs, ext, always_index=upstream is None)
        try:
            for path in paths:
                # Not normalised: stage names (schema) and parts (slugs) hold no '/', '\\' or
                # leading '.', so the path is normal and inside output.dir by construction.
                self._fits(path)
        except BadPath:
            return self._key_form(stage.name, key, outputs, ext)
        return tuple(paths)

    def settle(self, jobs: Sequence[Job]) -> dict[int, tuple[str, ...] | BadPath]:
        """The positions in ``jobs`` (one stage's, as proposed) whose paths change: every job
        sharing a path takes its key form (BadPath when that does not fit)."""
        if not jobs:
            return {}
        twins = self._twins.get(jobs[0].stage.casefold())
        changed: dict[int, tuple[str, ...] | BadPath] = {}
        for position in sorted(colliding((job.paths for job in jobs), twins)):
            job = jobs[position]
            _stem, ext = posixpath.splitext(job.paths[0])
            try:
                changed[position] = self._key_form(job.stage, job.key, job.outputs, ext[1:])
            except BadPath as e:
                changed[position] = e
        if twins is not None:
            for position, job in enumerate(jobs):
                paths = changed.get(position, job.paths)
                if isinstance(paths, tuple):
                    twins.update(path.casefold() for path in paths)
        return changed

    def _key_form(self, stage: str, key: str, outputs: int, ext: str) -> tuple[str, ...]:
        paths = key_paths(stage, key, outputs, ext)
        for path in paths:
            self._fits(normalise(path))
        return tuple(paths)
