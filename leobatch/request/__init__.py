"""The request builder: a stage's rendered values -> the wire body, with the API's semantic rules.

``build_request(kind, fields, ...)`` maps the stage keys of DESIGN section 3 (``model``,
``prompt``, ``elements``, ``guidance``, ``styles``, ``motion``, ``params`` ...) onto the body of the
kind's create endpoint (``leobatch.api.wire``), resolving catalogue names to ids and leaving
run-time ids (upstream outputs, uploaded files) as ``Input``s. It never raises for bad input:
it returns every problem it finds, each at the stage key that caused it.

Defaults the server would apply are written into the body, so that counts and prices never
depend on them: images ``width`` 1024, ``height`` 768, ``num_images`` 4, ``alchemy`` true
(false when ``ultra``, which Alchemy excludes); videos the model (MOTION2) and the model's first
resolution; universal upscaler ``upscaleMultiplier`` 1.5 and ``upscalerStyle`` GENERAL unless
``ultraUpscaleStyle`` is given; video upscale ``RESOLUTION_720``; unzoom and nobg ``isVariation``.

Output sizes: image ``width x height``; upscale twice the input; unzoom the input times
``UNZOOM_FACTOR``; nobg the input; universal upscaler the input times ``upscaleMultiplier``;
video ``width x height`` when given, else 832x480, 1280x720 or 1920x1080 by resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: leobatch.plan imports this package while it loads
    from leobatch.plan.jobs import Input
    from leobatch.request._context import Ctx, Spec

__all__ = ["UNZOOM_FACTOR", "BuiltRequest", "FieldProblem", "build_request"]

#: how much larger an unzoom output is than its input, per side (leobatch's assumption)
UNZOOM_FACTOR = 1.5


@dataclass(frozen=True, slots=True)
class BuiltRequest:
    """A stage's wire request: ``body`` without run-time ids, which are ``inputs``.

    ``outputs`` counts media files (``num_images`` for images, 1 for videos and variations,
    0 for improve-prompt); ``size`` is each output's (width, height) when known, ``input_size``
    the size of the image the request consumes when known (upscaler pricing needs it);
    ``model`` the catalogue slug; ``ext`` the output file extension.
    """

    endpoint: str
    body: Mapping[str, Any]
    inputs: tuple[Input, ...]
    outputs: int
    size: tuple[int, int] | None
    model: str | None
    ext: str
    input_size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A mistake at ``path`` in the stage mapping (``()`` for the stage itself)."""

    path: tuple[str | int, ...]
    message: str


@dataclass(frozen=True, slots=True)
class Shape:
    """What a kind's builder learned besides the body."""

    outputs: int
    size: tuple[int, int] | None
    model: str | None
    ext: str


Builder = Callable[["Ctx"], Shape]


def _builders() -> Mapping[str, tuple[Spec, Builder]]:
    from leobatch.request import _image, _variations, _video

    return {**_image.KINDS, **_video.KINDS, **_variations.KINDS}


_CACHE: dict[str, Mapping[str, tuple[Spec, Builder]]] = {}


def _on_v2(
    kind: str, path: tuple[str | int, ...], message: str
) -> tuple[tuple[str | int, ...], str]:
    """A v1-only stage key on a v2 stage: say it is the model's surface that refuses it."""
    if message.endswith(f"does not apply to {kind} stages") and len(path) == 1:
        hint = "; give reference images in 'guidance'" if path[0] == "init_image" else ""
        return path, f"{path[0]!r} does not apply to {kind} stages with a v2 model{hint}"
    return path, message


def build_request(
    kind: str,
    fields: Mapping[str, Any],
    *,
    upstream_kind: str | None,
    upstream_size: tuple[int, int] | None,
    recipe_dir: Path,
    upstream_endpoint: str | None = None,
    from_defaults: frozenset[str] = frozenset(),
) -> BuiltRequest | list[FieldProblem]:
    """The wire request for one rendered stage, or every problem with it.

    ``upstream_endpoint`` is the create endpoint of the upstream job: the outputs of a v2
    ``nobg`` or ``upscale`` job are generated images, not variations. ``from_defaults`` names
    the ``params`` keys that came from the recipe's ``defaults`` (a v2 model ignores those it
    does not have).
    """
    builders = _CACHE.get("all")
    if builders is None:
        builders = _CACHE["all"] = _builders()
    from leobatch.plan.jobs import UPSTREAM_TEXT, Input
    from leobatch.request._context import VARIATION_KINDS, Ctx
    from leobatch.request._v2 import V2_ENDPOINT, build_v2, spec_for, v2_model

    if upstream_endpoint == V2_ENDPOINT and upstream_kind in VARIATION_KINDS:
        upstream_kind = "image"  # a v2 remove-bg or upscaler output is a generated image
    found = v2_model(kind, fields)
    if found is not None:
        v2_ctx = Ctx(
            kind, spec_for(kind), fields, upstream_kind, upstream_size, recipe_dir, from_defaults
        )
        v2_ctx.check_keys()
        v2_ctx.problems = [_on_v2(kind, path, message) for path, message in v2_ctx.problems]
        shape = build_v2(v2_ctx, found)
        if v2_ctx.problems:
            return [FieldProblem(p, m) for p, m in dict.fromkeys(v2_ctx.problems)]
        return BuiltRequest(
            endpoint=V2_ENDPOINT,
            body=v2_ctx.body,
            inputs=tuple(v2_ctx.inputs),
            outputs=shape.outputs,
            size=shape.size,
            model=shape.model,
            ext=shape.ext,
            input_size=v2_ctx.input_size,
        )
    entry = builders.get(kind)
    if entry is None:
        from leobatch.catalog import suggest

        hint = suggest(kind, builders)
        more = f"; did you mean {hint!r}?" if hint else ""
        return [FieldProblem(("kind",), f"unknown kind {kind!r}{more}")]
    spec, build = entry
    ctx = Ctx(kind, spec, fields, upstream_kind, upstream_size, recipe_dir, from_defaults)
    ctx.check_keys()
    ctx.check_params()
    shape = build(ctx)
    if ctx.problems:
        return [FieldProblem(path, message) for path, message in dict.fromkeys(ctx.problems)]
    for name, value in ctx.body.items():
        if isinstance(value, str) and UPSTREAM_TEXT in value:
            ctx.inputs.append(Input(name, "upstream-text", None))
    return BuiltRequest(
        endpoint=spec.endpoint,
        body=ctx.body,
        inputs=tuple(ctx.inputs),
        outputs=shape.outputs,
        size=shape.size,
        model=shape.model,
        ext=shape.ext,
        input_size=ctx.input_size,
    )
