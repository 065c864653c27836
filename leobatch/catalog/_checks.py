"""Data-driven checks behind :func:`leobatch.catalog.v2.check_parameters` (all but sizes)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from leobatch.catalog._rules import Param, Slot, V2Rules

__all__ = [
    "Problems",
    "check_guidances",
    "check_param",
    "check_prompt",
    "check_quantity_and_duration",
    "check_styles",
    "listing",
    "type_name",
    "unknown_names",
]

Path = tuple[str | int, ...]
Problems = list[tuple[Path, str]]

#: how many values a message lists before it says "..."
_SHOWN = 12


def type_name(value: object) -> str:
    """How a JSON value's type reads in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


def listing(values: Iterable[object], limit: int = _SHOWN) -> str:
    """``a, b, c`` (at most ``limit`` shown, then ``...``)."""
    shown = [str(v) for v in values]
    if len(shown) > limit:
        return ", ".join(shown[:limit]) + ", ..."
    return ", ".join(shown)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def unknown_names(
    slug: str,
    what: str,
    given: Mapping[str, Any],
    allowed: Sequence[str],
    at: Path,
    rejected: Mapping[str, str] | None = None,
) -> Problems:
    """A problem for each key of ``given`` that is not in ``allowed``, with did-you-mean."""
    from leobatch.catalog import suggest

    rejected = rejected or {}
    problems: Problems = []
    for name in given:
        if name in allowed:
            continue
        if name in rejected:
            problems.append(((*at, name), f"{slug} no longer takes {name!r}: {rejected[name]}"))
            continue
        close = suggest(str(name), allowed)
        hint = f"; did you mean {close!r}?" if close else f"; it takes {listing(allowed, 30)}"
        problems.append(((*at, name), f"{slug} has no {what} {name!r}{hint}"))
    return problems


def check_prompt(slug: str, rules: V2Rules, parameters: Mapping[str, Any]) -> Problems:
    """``prompt``: required where the model takes one, a string within its length limits."""
    if not rules.prompt:
        return []
    if "prompt" not in parameters:
        return [(("prompt",), f"{slug} needs a prompt")] if rules.prompt_required else []
    prompt = parameters["prompt"]
    if not isinstance(prompt, str):
        return [(("prompt",), f"{slug}: prompt must be a string, not {type_name(prompt)}")]
    if len(prompt.strip()) < rules.prompt_min:
        return [(("prompt",), f"{slug}: the prompt is empty")]
    if rules.prompt_max is not None and len(prompt) > rules.prompt_max:
        return [
            (
                ("prompt",),
                f"{slug} takes prompts of at most {rules.prompt_max} characters;"
                f" this one has {len(prompt)}",
            )
        ]
    return []


def check_quantity_and_duration(
    slug: str, kind: str, rules: V2Rules, parameters: Mapping[str, Any]
) -> Problems:
    """``quantity`` within 1..max (1 on video and remove-bg); ``duration`` a listed value."""
    problems: Problems = []
    if "quantity" in parameters:
        quantity = parameters["quantity"]
        if not _int(quantity):
            problems.append(
                (("quantity",), f"{slug}: quantity must be an integer, not {type_name(quantity)}")
            )
        elif not 1 <= quantity <= rules.quantity_max:
            allowed = (
                "exactly 1 output per job"
                if rules.quantity_max == 1
                else f"1 to {rules.quantity_max} outputs per job"
            )
            problems.append((("quantity",), f"{slug} renders {allowed}, not quantity {quantity}"))
    if "duration" in parameters and rules.durations:
        value = parameters["duration"]
        if not _int(value) or value not in rules.durations:
            problems.append(
                (
                    ("duration",),
                    f"{slug} renders {describe_durations(rules.durations)} seconds, not {value!r}",
                )
            )
        else:
            guidances = parameters.get("guidances")
            used = set(guidances) if isinstance(guidances, Mapping) else set()
            for slot, limit in rules.duration_max_with.items():
                if slot in used and value > limit:
                    problems.append(
                        (("duration",), f"{slug} renders at most {limit} seconds with {slot}")
                    )
    return problems


def describe_durations(durations: Sequence[int]) -> str:
    """``4, 6 or 8`` for a short list, ``3 to 15`` for every integer of a range."""
    ds = list(durations)
    if len(ds) > 3 and ds == list(range(ds[0], ds[-1] + 1)):
        return f"{ds[0]} to {ds[-1]}"
    if len(ds) > 3 and len({b - a for a, b in itertools.pairwise(ds)}) == 1:
        return f"{ds[0]} to {ds[-1]} in steps of {ds[1] - ds[0]}"
    return ", ".join(map(str, ds[:-1])) + f" or {ds[-1]}" if len(ds) > 1 else str(ds[0])


def check_param(slug: str, param: Param, value: Any, at: Path) -> Problems:
    """One typed parameter: its JSON type, enum membership and numeric or length range."""
    name = param.name
    kind = param.type
    if kind == "enum":
        if value in param.values:
            return []
        close = [v for v in param.values if isinstance(v, str) and str(value).upper() == v.upper()]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        allowed = " | ".join(map(str, param.values))
        return [(at, f"{slug}: {name} {value!r} is not one of {allowed}{hint}")]
    expected = {
        "int": _int(value),
        "number": _int(value) or isinstance(value, float),
        "bool": isinstance(value, bool),
        "string": isinstance(value, str),
        "object": isinstance(value, Mapping),
        "array": isinstance(value, list),
        "any": True,
    }[kind]
    if not expected:
        article = {"int": "an integer", "number": "a number", "bool": "true or false"}
        want = article.get(kind, f"a {kind}" if kind != "object" else "an object")
        return [(at, f"{slug}: {name} must be {want}, not {type_name(value)}")]
    measure = len(value) if kind in ("string", "array") else value
    if kind in ("int", "number", "string", "array"):
        low, high = param.min, param.max
        if (low is not None and measure < low) or (high is not None and measure > high):
            unit = " characters" if kind == "string" else " items" if kind == "array" else ""
            span = (
                f"at most {high:g}{unit}"
                if low is None and high is not None
                else f"at least {low:g}{unit}"
                if high is None and low is not None
                else f"{low:g} to {high:g}{unit}"
            )
            shown = f"{len(value)}{unit}" if unit else repr(value)
            return [(at, f"{slug}: {name} takes {span}, not {shown}")]
    return []


def check_styles(slug: str, rules: V2Rules, value: Any) -> Problems:
    """``style_ids``: a list of the model's own style ids, within its count limit."""
    if not isinstance(value, list):
        return [(("style_ids",), f"{slug}: style_ids must be a list, not {type_name(value)}")]
    problems: Problems = []
    if rules.styles_max is not None and len(value) > rules.styles_max:
        problems.append(
            (
                ("style_ids",),
                f"{slug} takes at most {rules.styles_max} style id(s), not {len(value)}",
            )
        )
    ids = set(rules.styles.values())
    for i, sid in enumerate(value):
        if sid not in ids:
            problems.append(
                (
                    ("style_ids", i),
                    f"{slug} has no style id {sid!r}; its styles: {listing(rules.styles, 30)}",
                )
            )
    return problems


def check_guidances(slug: str, rules: V2Rules, value: Any) -> Problems:
    """``guidances``: known slots, counts, needed and exclusive slots, each reference object."""
    at: Path = ("guidances",)
    if not isinstance(value, Mapping):
        return [(at, f"{slug}: guidances must be an object, not {type_name(value)}")]
    problems = unknown_names(slug, "reference slot", value, tuple(rules.guidances), at)
    used = {k for k, v in value.items() if k in rules.guidances and v}
    for name, slot in rules.guidances.items():
        if name not in value:
            if slot.min:
                problems.append((at, f"{slug} needs exactly {slot.min} {name} reference(s)"))
            continue
        problems += _check_slot(slug, slot, value[name], used, (*at, name))
    for first, second in rules.exclusive:
        if used & first and used & second:
            problems.append(
                (
                    at,
                    f"{slug} takes {' / '.join(sorted(first))} or {' / '.join(sorted(second))},"
                    " not both",
                )
            )
    return problems


def _check_slot(slug: str, slot: Slot, items: Any, used: set[str], at: Path) -> Problems:
    if not isinstance(items, list):
        return [(at, f"{slug}: {slot.name} must be a list of references, not {type_name(items)}")]
    problems: Problems = []
    limit = min([slot.max, *(n for other, n in slot.max_with.items() if other in used)])
    if len(items) > limit:
        why = next((f" with {o}" for o, n in slot.max_with.items() if o in used and n == limit), "")
        problems.append((at, f"{slug} takes at most {limit} {slot.name}{why}, not {len(items)}"))
    if len(items) < slot.min:
        problems.append((at, f"{slug} needs exactly {slot.min} {slot.name}, not {len(items)}"))
    if items and slot.needs and slot.needs not in used:
        problems.append((at, f"{slug}: {slot.name} needs a {slot.needs} too"))
    for i, item in enumerate(items):
        problems += _check_reference(slug, slot, item, (*at, i))
    return problems


def _check_reference(slug: str, slot: Slot, item: Any, at: Path) -> Problems:
    if not isinstance(item, Mapping):
        return [(at, f"{slug}: a {slot.name} reference must be an object, not {type_name(item)}")]
    allowed = [slot.item]
    if slot.strengths:
        allowed.append("strength")
    if slot.order:
        allowed.append("order")
    problems = unknown_names(slug, f"{slot.name} field", item, allowed, at)
    if slot.item not in item:
        problems.append((at, f"{slug}: a {slot.name} reference needs {slot.item!r}"))
    else:
        problems += _check_media(slug, slot, item[slot.item], (*at, slot.item))
    if "strength" in item and slot.strengths and item["strength"] not in slot.strengths:
        problems.append(
            (
                (*at, "strength"),
                f"{slug}: {slot.name} strength {item['strength']!r} is not one of"
                f" {' | '.join(slot.strengths)}",
            )
        )
    if "order" in item and slot.order and not (_int(item["order"]) and item["order"] >= 0):
        problems.append(((*at, "order"), f"{slug}: order must be an integer >= 0"))
    return problems


#: the field that carries the reference for each ``type``
_SOURCE = {"URL": "url", "BASE64": "data"}


def _check_media(slug: str, slot: Slot, media: Any, at: Path) -> Problems:
    if not isinstance(media, Mapping):
        return [(at, f"{slug}: {slot.item} must be an object, not {type_name(media)}")]
    kind = media.get("type")
    if kind not in slot.types:
        return [
            (
                (*at, "type"),
                f"{slug}: {slot.name} {slot.item} type {kind!r} is not one of"
                f" {' | '.join(slot.types)}",
            )
        ]
    source = _SOURCE.get(str(kind), "id")
    allowed = ["type", source, "width", "height"]
    problems = unknown_names(slug, f"{slot.item} field", media, allowed, at)
    ref = media.get(source)
    if not isinstance(ref, str) or not ref:
        problems.append(((*at, source), f"{slug}: a {kind} {slot.item} needs a string {source!r}"))
    for axis in ("width", "height"):
        if axis in media and not (_int(media[axis]) and media[axis] > 0):
            problems.append(((*at, axis), f"{slug}: {slot.item} {axis} must be a positive integer"))
    return problems
