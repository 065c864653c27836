"""Request bodies checked the way Leonardo's Hasura layer checks them.

Field tables come from ``leobatch.api.wire.ENDPOINTS`` (the single source of truth) plus the two
bodies that table does not cover (``/init-image`` and ``/pricing-calculator``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leobatch.api.wire import ENDPOINTS, Endpoint, FieldType
from leobatch.emulator.refusal import Refusal

__all__ = ["EXTRA_ENDPOINTS", "check_body", "endpoint_for"]

EXTRA_ENDPOINTS: Mapping[str, Endpoint] = {
    "/init-image": Endpoint(
        path="/init-image",
        response_key="uploadInitImage",
        job_id_field="id",
        poll=None,
        required=("extension",),
        rate_limited=False,
        fields={"extension": FieldType("str")},
    ),
    "/pricing-calculator": Endpoint(
        path="/pricing-calculator",
        response_key="calculateProductionApiServiceCost",
        job_id_field="",
        poll=None,
        rate_limited=False,
        fields={"service": FieldType("str"), "serviceParams": FieldType("object")},
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


def _expected(ftype: FieldType, name: str) -> str:
    if ftype.tag == "enum":
        return f"expected one of the values {list(ftype.enum)} for type '{name}'"
    words = {"int": "a 32-bit integer", "number": "a float", "bool": "a boolean",
             "str": "a string", "object": "an object"}  # fmt: skip
    word = words.get(ftype.tag, "a list")
    return f"expected {word} for type '{_GRAPHQL[ftype.tag]}'"


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
        if value is not None and not _fits(value, ftype):
            shown = f'"{value}"' if ftype.tag == "enum" and isinstance(value, str) else None
            found = shown or _json_kind(value)
            if ftype.tag.startswith("list[") and isinstance(value, list):
                ftype = FieldType(ftype.tag[5:-1])
                found = next(_json_kind(v) for v in value if not _fits(v, ftype))
            raise Refusal(400, f"{_expected(ftype, name)}, but found {found}",
                          "validation-failed", path=f"{args}.arg1.{name}")  # fmt: skip
    return body
