"""The wire table's nested objects and nullability agree with Leonardo's OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leobatch.api.wire import (
    CONTROLNET_INPUT,
    ELEMENT_INPUT,
    END_FRAME_IMAGE,
    ENDPOINTS,
    USER_ELEMENTS_INPUT,
    FieldType,
)
from tests.emulator.test_schemathesis import DOCUMENT

_DOC: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _body(path: str) -> dict[str, Any]:
    schema: dict[str, Any] = _DOC["paths"][path]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


@pytest.mark.parametrize(
    ("table", "schema"),
    [
        (ELEMENT_INPUT, _DOC["components"]["schemas"]["element_input"]),
        (CONTROLNET_INPUT, _DOC["components"]["schemas"]["controlnet_input"]),
        (USER_ELEMENTS_INPUT, _DOC["components"]["schemas"]["user_elements_input"]),
        (END_FRAME_IMAGE, _body("/generations-image-to-video")["properties"]["endFrameImage"]),
    ],
    ids=["element_input", "controlnet_input", "user_elements_input", "endFrameImage"],
)
def test_nested_tables_match_the_document(table: FieldType, schema: dict[str, Any]) -> None:
    """Same keys; required and non-nullable fields as documented.

    ``controlnet_input`` lists no ``required`` in the document, but its three fields are
    ``nullable: false`` and api-facts 4.1 gives them as the entry's substance: required here.
    """
    assert set(table.fields) == set(schema["properties"])
    documented = set(schema.get("required", ()))
    assert documented <= set(table.required)
    for name, ftype in table.fields.items():
        assert ftype.nullable == (_resolve(schema["properties"][name]).get("nullable") is not False)


@pytest.mark.parametrize("path", [p for p in ENDPOINTS if p in _DOC["paths"]])
def test_non_nullable_top_level_fields_match_the_document(path: str) -> None:
    """A field is non-nullable in the table exactly when the document says so."""
    properties = _body(path)["properties"]
    for name, ftype in ENDPOINTS[path].fields.items():
        if name in properties:
            documented = _resolve(properties[name]).get("nullable") is not False
            assert ftype.nullable == documented, name
