"""The ``models`` table of ``leobatch catalog``: both surfaces with their lifecycle, and the
``--live`` comparison with what the API lists (``GET /platformModels``, ``GET /v2/models``)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from leobatch import catalog
from leobatch.catalog._checks import describe_durations

if TYPE_CHECKING:
    from leobatch.api._models import V2Model
    from leobatch.api.client import LeonardoClient

__all__ = [
    "LIVE_HEADERS",
    "MODEL_HEADERS",
    "compare_v2",
    "lifecycle_text",
    "live_model_rows",
    "model_json",
    "model_rows",
    "today",
]

Rows = list[tuple[str, ...]]

MODEL_HEADERS = (
    "slug", "name", "surface", "kind", "family", "id", "aliases", "lifecycle", "contrast",
    "guidance / resolutions / rules",
)  # fmt: skip
LIVE_HEADERS = ("surface", "id", "name", "catalogue slug", "status")


def today() -> datetime.date:
    """Today in UTC (retirement dates are calendar dates)."""
    return datetime.datetime.now(datetime.timezone.utc).date()


def lifecycle_text(model: catalog.Model, on: datetime.date) -> str:
    """``""`` (current), ``retiring on DATE -> X`` or ``retired DATE -> X``."""
    life = catalog.lifecycle(model, on)
    if life.state == "current":
        return ""
    then = f" -> {life.replacement}" if life.replacement else ""
    word = "retired" if life.state == "retired" else "retiring on"
    return f"{word} {life.date}{then}"


def _v2_summary(model: catalog.Model) -> str:
    rules = model.rules
    assert rules is not None
    sizes = rules.sizes
    shape = {
        "pairs": f"{len(sizes.pairs)} sizes",
        "axes": f"{len(sizes.widths)}x{len(sizes.heights)} values"
        + (f", {len(sizes.pairs)} pairs" if sizes.pairs else ""),
        "range": f"{_span(sizes.width_range)} x {_span(sizes.height_range)}"
        + (f" /{sizes.multiple}" if sizes.multiple > 1 else ""),
        "gpt-image-2": f"{len(sizes.pairs)} presets or custom",
        "input": "input size x upscale_factor",
        "none": "input size",
    }[sizes.kind]
    parts = [shape, f"quantity <= {rules.quantity_max}"]
    if rules.durations:
        parts.append(f"{describe_durations(rules.durations)} s")
    if rules.guidances:
        parts.append("refs " + ", ".join(f"{n} {s.max}" for n, s in rules.guidances.items()))
    if rules.styles:
        parts.append(f"{len(rules.styles)} styles")
    return "; ".join(parts)


def _span(span: tuple[int, int] | None) -> str:
    return f"{span[0]}-{span[1]}" if span else "any"


def _details(model: catalog.Model) -> str:
    if model.rules is not None:
        return _v2_summary(model)
    return ", ".join(
        f"{k.removesuffix('-reference')} {v}" for k, v in model.guidance.items()
    ) or ", ".join(r.removeprefix("RESOLUTION_") for r in model.resolutions)


def model_rows(on: datetime.date | None = None) -> Rows:
    """One row per model of both surfaces, with its lifecycle on ``on`` (default today)."""
    day = on or today()
    return [
        (
            m.slug,
            m.name,
            m.surface,
            m.kind,
            m.family,
            m.id,
            ", ".join(m.aliases),
            lifecycle_text(m, day),
            "yes" if m.contrast_required else "",
            _details(m),
        )
        for m in catalog.all_models()
    ]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list, frozenset, set)):
        return [_jsonable(v) for v in value]
    return value


def model_json(on: datetime.date | None = None) -> list[dict[str, Any]]:
    """Every model as JSON: its fields (v2 rules included) plus its ``lifecycle`` on ``on``."""
    day = on or today()
    out = []
    for m in catalog.all_models():
        row = _jsonable(m)
        life = catalog.lifecycle(m, day)
        row["lifecycle"] = {"state": life.state, "date": life.date, "replacement": life.replacement}
        out.append(row)
    return out


def _simple(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def compare_v2(listed: Sequence[V2Model], on: datetime.date | None = None) -> Rows:
    """The v2 listing against the catalogue, matched on a request string or the display name.

    Rows: each listed model (``catalogued`` or ``not in catalogue``), then each catalogued
    non-retired v2 model the API does not list (``not listed by the API``).
    """
    day = on or today()
    by_name: dict[str, catalog.Model] = {}
    for m in catalog.v2_models():
        for name in (m.name, m.id, m.slug, *m.aliases):
            by_name.setdefault(_simple(name), m)
    rows: Rows = []
    matched: set[str] = set()
    for entry in listed:
        found = None
        for key in (entry.slug, entry.name):
            if key and _simple(key) in by_name:
                found = by_name[_simple(key)]
                break
        if found is not None:
            matched.add(found.id)
        status = "catalogued" if found else "not in catalogue"
        if found is not None and catalog.lifecycle(found, day).state == "retired":
            status = f"catalogued as {lifecycle_text(found, day)}"
        rows.append(("v2", entry.id, entry.name or "", found.slug if found else "", status))
    for m in catalog.v2_models():
        if m.id not in matched and catalog.lifecycle(m, day).state != "retired":
            rows.append(("v2", "", m.name, m.slug, "not listed by the API"))
    return rows


async def live_model_rows(client: LeonardoClient) -> tuple[Rows, str | None, bool]:
    """The v1 platform models and the v2 comparison.

    The second value says why the v2 comparison is missing, the third whether that is a failure:
    an API without ``GET /v2/models`` (404) is noted, any other refusal fails the command.
    """
    from leobatch.errors import ApiError, NotFoundError

    rows: Rows = []
    for m in await client.platform_models():
        known = catalog.find_model(m.id)
        status = "catalogued" if known else "not in catalogue"
        rows.append(("v1", m.id, m.name or "", known.slug if known else "", status))
    try:
        listed = await client.v2_models()
    except NotFoundError:
        return rows, "this API has no GET /v2/models (404): v1 models only", False
    except ApiError as e:
        return rows, f"GET /v2/models failed ({e}); the v2 comparison is missing", True
    return rows + compare_v2(listed), None, False
