"""The ``width``/``height`` rules of v2 models (see :class:`leobatch.catalog._rules.Sizes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leobatch.catalog._checks import Problems, listing, type_name
from leobatch.catalog._rules import Sizes, V2Rules

__all__ = ["check_sizes"]

# GPT Image 2's custom sizes (api-v2-facts 2.1): longest side under 3840, both multiples of 16,
# long/short at most 3, and between 655,360 and 8,294,400 pixels
_GPT2_MAX_SIDE = 3840
_GPT2_MULTIPLE = 16
_GPT2_MAX_RATIO = 3
_GPT2_PIXELS = (655_360, 8_294_400)


def _pairs(pairs: tuple[tuple[int, int], ...]) -> str:
    return listing((f"{w}x{h}" for w, h in pairs), 14)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sizes(slug: str, rules: V2Rules, parameters: Mapping[str, Any]) -> Problems:
    """Every problem of ``width``/``height`` under the model's size rule."""
    sizes = rules.sizes
    if sizes.kind == "none":
        return []
    given = {axis: parameters[axis] for axis in ("width", "height") if axis in parameters}
    problems: Problems = []
    for axis, value in given.items():
        if not _is_int(value):
            problems.append(((axis,), f"{slug}: {axis} must be an integer, not {type_name(value)}"))
        elif value < 0:
            problems.append(((axis,), f"{slug}: {axis} {value} is negative"))
    if problems:
        return problems
    if sizes.required or sizes.both:
        missing = [a for a in ("width", "height") if a not in given]
        if sizes.required and missing:
            what = "the input image's size" if sizes.kind == "input" else "a size"
            return [((m,), f"{slug} needs {m} ({what})") for m in missing]
        if sizes.both and len(missing) == 1:
            return [
                ((missing[0],), f"{slug} takes both width and height or neither, not one alone")
            ]
    if not given:
        return []
    default = sizes.default or (0, 0)
    width = int(given.get("width", default[0]))
    height = int(given.get("height", default[1]))
    at: tuple[str | int, ...] = ("width",) if "width" in given else ("height",)
    if width == 0 and height == 0:
        if sizes.zero:
            return []
        return [(at, f"{slug} has no automatic size (0x0); give width and height")]
    if (width == 0) != (height == 0):
        return [(at, f"{slug}: 0 means 'match the reference' only as 0x0, not {width}x{height}")]
    check = _CHECKS[sizes.kind]
    found = check(slug, sizes, width, height)
    return [((axis,) if axis in given else at, message) for axis, message in found] + _by_mode(
        slug, sizes, parameters, width, height, at
    )


def _by_mode(
    slug: str,
    sizes: Sizes,
    parameters: Mapping[str, Any],
    width: int,
    height: int,
    at: tuple[str | int, ...],
) -> Problems:
    mode = parameters.get("mode")
    if not sizes.by_mode or not isinstance(mode, str) or mode not in sizes.by_mode:
        return []
    pairs = sizes.by_mode[mode]
    if (width, height) in pairs:
        return []
    return [(at, f"{slug} renders {_pairs(pairs)} in mode {mode}, not {width}x{height}")]


def _check_pairs(slug: str, sizes: Sizes, width: int, height: int) -> list[tuple[str, str]]:
    if (width, height) in sizes.pairs:
        return []
    return [
        ("", f"{slug} does not render {width}x{height}; sizes it renders: {_pairs(sizes.pairs)}")
    ]


def _check_axes(slug: str, sizes: Sizes, width: int, height: int) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    if width not in sizes.widths:
        messages.append(
            ("width", f"{slug}: width {width} is not one of {listing(sizes.widths, 40)}")
        )
    if height not in sizes.heights:
        messages.append(
            ("height", f"{slug}: height {height} is not one of {listing(sizes.heights, 40)}")
        )
    if not messages and sizes.pairs and (width, height) not in sizes.pairs:
        messages.append(
            (
                "",
                f"{slug} renders {width}x{height} as a square silently, so leobatch refuses it;"
                f" sizes it renders: {_pairs(sizes.pairs)}",
            )
        )
    return messages


def _check_range(slug: str, sizes: Sizes, width: int, height: int) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    for axis, value, span in (
        ("width", width, sizes.width_range),
        ("height", height, sizes.height_range),
    ):
        if span is not None and not span[0] <= value <= span[1]:
            messages.append((axis, f"{slug}: {axis} {value} is outside {span[0]}..{span[1]}"))
        elif value % sizes.multiple:
            messages.append((axis, f"{slug}: {axis} {value} is not a multiple of {sizes.multiple}"))
    return messages


def _check_gpt_image_2(slug: str, sizes: Sizes, width: int, height: int) -> list[tuple[str, str]]:
    if (width, height) in sizes.pairs:
        return []
    broken = []
    if max(width, height) >= _GPT2_MAX_SIDE:
        broken.append(f"the longest side must be under {_GPT2_MAX_SIDE}")
    if width % _GPT2_MULTIPLE or height % _GPT2_MULTIPLE:
        broken.append(f"both sides must be multiples of {_GPT2_MULTIPLE}")
    if max(width, height) > _GPT2_MAX_RATIO * min(width, height):
        broken.append(f"the long side may be at most {_GPT2_MAX_RATIO}x the short one")
    if not _GPT2_PIXELS[0] <= width * height <= _GPT2_PIXELS[1]:
        broken.append(f"the area must be {_GPT2_PIXELS[0]:,} to {_GPT2_PIXELS[1]:,} pixels")
    if not broken:
        return []
    return [
        (
            "",
            f"{slug}: custom size {width}x{height} breaks its rule ({'; '.join(broken)});"
            f" presets: {_pairs(sizes.pairs)}",
        )
    ]


def _check_input(slug: str, sizes: Sizes, width: int, height: int) -> list[tuple[str, str]]:
    low = sizes.width_range[0] if sizes.width_range else 1
    if min(width, height) < low:
        return [
            ("", f"{slug}: the input image must be at least {low} px a side, not {width}x{height}")
        ]
    return []


def _check_free(slug: str, sizes: Sizes, width: int, height: int) -> list[tuple[str, str]]:
    return _check_range(slug, sizes, width, height)


_CHECKS = {
    "pairs": _check_pairs,
    "axes": _check_axes,
    "range": _check_range,
    "gpt-image-2": _check_gpt_image_2,
    "input": _check_input,
    "free": _check_free,
}
