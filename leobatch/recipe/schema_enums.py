"""The catalogue names the recipe schema enumerates for editors, and a tool that rewrites them.

The schema (``schemas/recipe.schema.json``) is written by hand, except its catalogue lists:
model names (v1 and v2: slugs, aliases, display names), preset styles, video styles and the
v2 models' own style names. ``tests/recipe/test_schema_typed.py`` checks that they equal the
catalogue; after a catalogue change, run ``python -m leobatch.recipe.schema_enums`` to rewrite
them in place (the rest of the file is kept as it is).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from leobatch import catalog

__all__ = ["catalogue_enums", "main", "with_catalogue"]

_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "recipe.schema.json"


def _names(*groups: Any) -> list[str]:
    return list(dict.fromkeys(n for group in groups for n in group))


def catalogue_enums() -> dict[str, list[str]]:
    """``$defs`` entry -> the names its first ``anyOf`` branch enumerates."""
    from leobatch.catalog import v2

    models = catalog.all_models()
    v2_styles = [
        name
        for m in models
        if m.surface == "v2" and m.rules is not None
        for name in v2.style_names(m)
    ]
    return {
        "model_name": _names(
            (m.slug for m in models),
            (a for m in models for a in m.aliases),
            (m.name for m in models),
        ),
        "preset_style": _names(p.name for p in catalog.preset_styles()),
        "video_style": _names(v.name for v in catalog.video_styles()),
        "model_style": sorted(set(v2_styles)),
    }


def with_catalogue(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its catalogue lists set to the catalogue's names."""
    for name, values in catalogue_enums().items():
        schema["$defs"][name]["anyOf"][0]["enum"] = values
    return schema


def main(argv: list[str] | None = None) -> int:
    """Rewrite the catalogue lists of the schema file (``--check``: only say if they differ)."""
    args = sys.argv[1:] if argv is None else argv
    text = _SCHEMA.read_text(encoding="utf-8")
    updated = json.dumps(with_catalogue(json.loads(text)), indent=2, ensure_ascii=False) + "\n"
    if updated == text:
        print(f"{_SCHEMA}: up to date")
        return 0
    if "--check" in args:
        print(f"{_SCHEMA}: catalogue lists differ; run python -m leobatch.recipe.schema_enums")
        return 1
    _SCHEMA.write_text(updated, encoding="utf-8")
    print(f"{_SCHEMA}: catalogue lists rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
