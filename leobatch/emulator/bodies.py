"""Request bodies checked the way Leonardo's Hasura layer checks them.

Field tables come from ``leobatch.api.wire.ENDPOINTS`` (the single source of truth) plus the two
bodies that table does not cover (``/init-image`` and ``/pricing-calculator``, the latter built
from the rate card's per-service field table). Nested objects (``elements[]``, ``controlnets[]``,
``endFrameImage``, the calculator's ``serviceParams``, ...) are checked field by field against
their nested tables: unknown keys, missing required keys, wrong types and ``null`` where the
OpenAPI document says non-nullable are all refused with 400 ``validation-failed``.

Words (Hasura's, as its GraphQL engine phrases them; UNCONFIRMED on Leonardo's REST layer for the
nested cases, which reuse the same engine):

- unknown top-level field: ``Unexpected variable <name>`` (``bad-request``; api-facts 2.2)
- unknown nested key: ``field "<key>" not found in type: '<input type>'``
- missing nested key: ``missing required field "<key>"``
- ``null`` for a non-nullable nested field: ``unexpected null value for type '<GraphQL type>'``
- wrong type: ``expected <word> for type '<GraphQL type>', but found <kind>`` (api-facts 2.2)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from leobatch.api.wire import ENDPOINTS, Endpoint, FieldType
from leobatch.emulator.refusal import Refusal
from leobatch.pricing.ratecard import SERVICES

__all__ = ["EXTRA_ENDPOINTS", "check_body", "endpoint_for"]

#: calculator fields the OpenAPI document declares non-nullable, per service
_CALCULATOR_NON_NULL: Mapping[str, frozenset[str]] = {
    "IMAGE_GENERATION": frozenset({"imageHeight", "imageWidth", "numImages", "inferenceSteps",
                                   "alchemyMode", "highResolution"}),
    "FANTASY_AVATAR_GENERATION": frozenset({"imageHeight", "imageWidth", "numImages"}),
    "MOTION_VIDEO_GENERATION": frozenset({"resolution"}),
    "VEO3_MOTION_VIDEO_GENERATION": frozenset({"resolution"}),
    "MODEL_TRAINING": frozenset({"resolution"}),
    "TEXTURE_GENERATION": frozenset({"preview"}),
    "UNIVERSAL_UPSCALER": frozenset({"megapixel"}),
    "UNIVERSAL_UPSCALER_ULTRA": frozenset({"inputWidth", "inputHeight", "upscaleMultiplier"}),
}  # fmt: skip


def _service_params() -> FieldType:
    """``serviceParams``: one nullable object per service, each with the rate card's fields."""
    services: dict[str, FieldType] = {}
    for service, fields in SERVICES.items():
        non_null = _CALCULATOR_NON_NULL.get(service, frozenset())
        table = {
            name: FieldType(tag, nullable=name not in non_null) for name, tag in fields.items()
        }
        services[service] = FieldType("object", fields=MappingProxyType(table),
                                      name=f"{service}_params")  # fmt: skip
    return FieldType("object", fields=MappingProxyType(services), name="service_params",
                     nullable=False)  # fmt: skip


EXTRA_ENDPOINTS: Mapping[str, Endpoint] = {
    "/init-image": Endpoint(
        path="/init-image",
        response_key="uploadInitImage",
        job_id_field="id",
        poll=None,
        required=("extension",),
        rate_limited=False,
        fields={"extension": FieldType("str", nullable=False)},
    ),
    "/pricing-calculator": Endpoint(
        path="/pricing-calculator",
        response_key="calculateProductionApiServiceCost",
        job_id_field="",
        poll=None,
        rate_limited=False,
        fields={
            "service": FieldType("enum", tuple(SERVICES), nullable=False),
            "serviceParams": _service_params(),
        },
    ),
}

_GRAPHQL = {
    "str": "String",
    "int": "Int",
    "number": "Float",
    "bool": "Boolean",
    "list[str]": "[String!]",
    "list[object]": "[Object!]",
    "object": "Object",
}


def endpoint_for(path: str) -> Endpoint:
    """The field table of a body-taking path."""
    return ENDPOINTS.get(path) or EXTRA_ENDPOINTS[path]


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _fits(value: object, ftype: FieldType) -> bool:
    tag = ftype.tag
    if tag == "str":
        return isinstance(value, str)
    if tag == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if tag == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tag == "bool":
        return isinstance(value, bool)
    if tag == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if tag == "list[object]":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if tag == "object":
        return isinstance(value, dict)
    return isinstance(value, str) and value in ftype.enum


def _graphql(ftype: FieldType) -> str:
    if ftype.tag == "enum":
        return "enum"
    if ftype.tag in ("object", "list[object]") and ftype.name:
        return ftype.name if ftype.tag == "object" else f"[{ftype.name}!]"
    return _GRAPHQL[ftype.tag]


def _expected(ftype: FieldType, name: str) -> str:
    if ftype.tag == "enum":
        return f"expected one of the values {list(ftype.enum)} for type '{name}'"
    words = {"int": "a 32-bit integer", "number": "a float", "bool": "a boolean",
             "str": "a string", "object": "an object"}  # fmt: skip
    word = words.get(ftype.tag, "a list")
    return f"expected {word} for type '{_GRAPHQL[ftype.tag]}'"


def _check_value(value: object, ftype: FieldType, name: str, path: str) -> None:
    """Refuse ``value`` unless it fits ``ftype``; objects are checked field by field."""
    if value is None:
        if not ftype.nullable:
            raise Refusal(400, f"unexpected null value for type '{_graphql(ftype)}'",
                          "validation-failed", path=path)  # fmt: skip
        return
    if ftype.tag == "list[object]" and isinstance(value, list):
        item = FieldType("object", fields=ftype.fields, required=ftype.required, name=ftype.name,
                         nullable=False)  # fmt: skip
        for i, entry in enumerate(value):
            _check_value(entry, item, name, f"{path}[{i}]")
        return
    if not _fits(value, ftype):
        shown = f'"{value}"' if ftype.tag == "enum" and isinstance(value, str) else None
        found = shown or _json_kind(value)
        if ftype.tag == "list[str]" and isinstance(value, list):
            ftype = FieldType("str")
            found = next(_json_kind(v) for v in value if not _fits(v, ftype))
        raise Refusal(400, f"{_expected(ftype, name)}, but found {found}",
                      "validation-failed", path=path)  # fmt: skip
    if ftype.tag == "object" and ftype.fields and isinstance(value, dict):
        _check_object(value, ftype, path)


def _check_object(value: dict[str, Any], ftype: FieldType, path: str) -> None:
    for key in value:
        if key not in ftype.fields:
            raise Refusal(400, f"field \"{key}\" not found in type: '{ftype.name}'",
                          "validation-failed", path=f"{path}.{key}")  # fmt: skip
    for key in ftype.required:
        if key not in value:
            raise Refusal(400, f'missing required field "{key}"', "validation-failed",
                          path=path)  # fmt: skip
    for key, item in value.items():
        _check_value(item, ftype.fields[key], key, f"{path}.{key}")


def check_body(endpoint: Endpoint, body: object) -> dict[str, Any]:
    """The body as a dict, or a ``Refusal`` exactly as the real API words it."""
    args = f"$.selectionSet.{endpoint.response_key}.args"
    if not isinstance(body, dict):
        raise Refusal(400, "expecting a value for non-nullable variable: \"body\"",
                      "validation-failed", path=args)  # fmt: skip
    for name in body:
        if name not in endpoint.fields:
            raise Refusal(400, f"Unexpected variable {name}", "bad-request")
    for name in endpoint.required:
        if body.get(name) is None:
            raise Refusal(400, f'expecting a value for non-nullable variable: "{name}"',
                          "validation-failed", path=args)  # fmt: skip
    for name, value in body.items():
        ftype = endpoint.fields[name]
        if value is None and not ftype.nullable:
            raise Refusal(400, f'expecting a value for non-nullable variable: "{name}"',
                          "validation-failed", path=args)  # fmt: skip
        _check_value(value, ftype, name, f"{args}.arg1.{name}")
    return body
