"""Stages whose model is on the v2 surface -> ``POST /v2/generations`` (DESIGN section 5.1).

The body is ``{"model": <wire string>, "public": false, "parameters": {...}}``. The portable
stage keys map as ``width``/``height``/``seed``/``negative_prompt`` -> the parameters of those
names, ``num_images`` -> ``quantity``, ``styles`` (names from the model's own set) ->
``style_ids``, ``guidance`` / ``from`` / ``image`` -> ``guidances.<slot>`` (leobatch.request.
_v2refs). ``params`` holds the model's own parameters, passed as written. Every rule of the
model is checked by ``leobatch.catalog.v2.check_parameters`` (the emulator refuses with the same
function), each problem located at the stage key that caused it.

Defaults written explicitly, so that counts, prices and renders never rest on server defaults
(several models default to 4 images or to rewriting the prompt): ``public: false``, ``quantity``
(1 unless ``num_images`` says otherwise), ``prompt_enhance: "OFF"`` where the model has it, an
image model's default ``width``/``height`` when neither is given (the size is in the price), and
for the Pro Upscalers ``width``/``height`` = the input image's size (from the upstream job or the
local file) and ``upscale_factor`` 2 unless given.

``params`` that came from the recipe's ``defaults`` for the kind and that the model does not
have are left out: ``defaults.image`` is shared by the stages of both surfaces, and a v1 field
there (``alchemy``, ``presetStyle``) says nothing about a v2 model. A stage's own ``params``
are checked strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from leobatch import catalog
from leobatch.catalog import Model, suggest, v2
from leobatch.plan.jobs import UPSTREAM_TEXT, Input
from leobatch.request import Shape
from leobatch.request._context import IMAGE_KINDS, Ctx, Path_, Spec, describe
from leobatch.request._v2refs import References

__all__ = ["V2_ENDPOINT", "V2_KINDS", "build_v2", "spec_for", "v2_model"]

V2_ENDPOINT = "/v2/generations"
#: stage kind -> the catalogue kind of the v2 models it takes
V2_KINDS: Mapping[str, str] = {
    "image": "image",
    "text-to-video": "video",
    "image-to-video": "video",
    "nobg": "remove-bg",
    "upscale": "upscaler",
}
_WORDS = {
    "image": "an image",
    "video": "a video",
    "remove-bg": "a remove-bg",
    "upscaler": "an upscaler",
}
#: reference slot for ``from`` (and ``image``, and a guidance entry without a type) by model kind
_DEFAULT_SLOTS: Mapping[str, tuple[str, ...]] = {
    "image": ("image_reference", "image_to_image", "content"),
    "video": ("start_frame", "image_reference"),
    "remove-bg": ("image_reference",),
    "upscaler": ("image_reference",),
}
_PORTABLE = ("width", "height", "num_images", "seed", "negative_prompt")
_KEYS: Mapping[str, frozenset[str]] = {
    "image": frozenset({"model", "prompt", "styles", "guidance", *_PORTABLE}),
    "text-to-video": frozenset({"model", "prompt", "styles", "guidance", *_PORTABLE}),
    "image-to-video": frozenset({"model", "prompt", "styles", "guidance", "image", *_PORTABLE}),
    "nobg": frozenset({"model", "image"}),
    "upscale": frozenset({"model", "image"}),
}


def v2_model(kind: str, fields: Mapping[str, Any]) -> Model | bool | None:
    """The v2 model a stage names (``True``: a v2-only kind naming no v2 model), else ``None``.

    ``nobg`` and ``upscale`` stages with a ``model`` key are v2 stages (v1 takes no model there).
    """
    if kind not in V2_KINDS:
        return None
    value = fields.get("model")
    if not isinstance(value, str):
        return None
    model = catalog.find_model(value)
    if model is not None and model.surface == "v2":
        return model
    return True if kind in ("nobg", "upscale") else None


@cache
def spec_for(kind: str) -> Spec:
    """The stage keys a v2 stage of ``kind`` takes."""
    return Spec(endpoint=V2_ENDPOINT, keys=_KEYS[kind])


def _pick_model(ctx: Ctx, found: Model | bool) -> Model | None:
    value, path = ctx.fields.get("model"), ("model",)
    want = V2_KINDS[ctx.kind]
    if isinstance(found, Model) and found.kind == want:
        return found
    if isinstance(found, Model):
        ctx.problem(
            path,
            f"model {value!r} is {_WORDS.get(found.kind, found.kind)} model; {ctx.kind} stages "
            f"need {_WORDS[want]} model",
        )
        return None
    choices = [m for m in catalog.all_models() if m.surface == "v2" and m.kind == want]
    names = [n for m in choices for n in (m.slug, *m.aliases)]
    hint = suggest(value, names) if isinstance(value, str) else None
    more = (
        f"; did you mean {hint!r}?" if hint else f" (one of {', '.join(m.slug for m in choices)})"
    )
    ctx.problem(
        path, f"{ctx.kind} stages take {_WORDS[want]} model here, not {describe(value)}{more}"
    )
    return None


class _Build:
    """One v2 request being built: parameters, references, and where each part came from."""

    def __init__(self, ctx: Ctx, model: Model) -> None:
        self.ctx = ctx
        self.model = model
        self.rules = model.rules
        self.names = _parameter_names(model)
        self.parameters: dict[str, Any] = {}
        #: parameters path prefix -> the stage path it came from
        self.origin: dict[tuple[str | int, ...], Path_] = {("prompt",): ()}
        self.refs = References(ctx, model)
        self.params = self._own_params()
        #: check_parameters paths already reported in other words
        self.skip: set[tuple[str | int, ...]] = set()

    def _own_params(self) -> dict[str, Any]:
        ctx = self.ctx
        out: dict[str, Any] = {}
        for name, value in ctx.params.items():
            if name in ctx.from_defaults and name not in self.names and name != "num_images":
                continue  # a v1 default of this kind: not a parameter of this model
            out[name] = value
        return out

    def set(self, name: str, value: Any, where: Path_) -> None:
        """``parameters[name]``, remembered as coming from ``where``."""
        self.parameters[name] = value
        self.origin[(name,)] = where

    def portable(self, key: str, wire: str) -> None:
        """A portable stage key (or its ``params`` spelling) into ``parameters[wire]``."""
        ctx = self.ctx
        spellings = [n for n in dict.fromkeys((wire, key)) if n in self.params]
        if key in ctx.fields and ctx.fields[key] is not None:
            for name in spellings:
                ctx.problem(
                    ("params", name), f"{name} is also set by the stage key {key!r}; keep one"
                )
                self.params.pop(name)
            self.set(wire, ctx.fields[key], (key,))
            return
        for name in spellings:
            self.set(wire, self.params.pop(name), ("params", name))

    def prompt(self) -> None:
        ctx = self.ctx
        if "prompt" in ctx.fields and ctx.fields["prompt"] is not None:
            prompt = ctx.fields["prompt"]
            if self.rules is not None and not self.rules.prompt:
                ctx.problem(("prompt",), f"{self.model.slug} takes no prompt")
                return
            self.set("prompt", prompt, ("prompt",))
            if isinstance(prompt, str) and UPSTREAM_TEXT in prompt:
                ctx.inputs.append(Input("parameters.prompt", "upstream-text", None))
        elif "prompt" in self.params:
            self.set("prompt", self.params.pop("prompt"), ("params", "prompt"))

    def styles(self) -> None:
        ctx = self.ctx
        entries = ctx.names("styles")
        if not entries:
            return
        if "style_ids" in self.params:
            ctx.problem(
                ("params", "style_ids"), "style_ids is also set by the stage key 'styles'; keep one"
            )
            self.params.pop("style_ids")
        names = v2.style_names(self.model)
        if not names:
            ctx.problem(("styles",), f"{self.model.slug} takes no styles")
            return
        ids: list[str] = []
        for i, (name, path) in enumerate(entries):
            sid = v2.style_id(self.model, name) if isinstance(name, str) else None
            if sid is None:
                hint = suggest(name, names) if isinstance(name, str) else None
                more = f"; did you mean {hint!r}?" if hint else f" (its styles: {', '.join(names)})"
                ctx.problem(path, f"{self.model.slug} has no style {describe(name)}{more}")
                continue
            ids.append(sid)
            self.origin[("style_ids", i)] = path
        self.set("style_ids", ids, ("styles",))

    def references(self) -> None:
        """``guidance``, ``image`` and ``from`` -> ``guidances``."""
        ctx = self.ctx
        kind = self.model.kind
        slot = self.refs.default_slot(_DEFAULT_SLOTS.get(kind, ()))
        uses_upstream = self.refs.guidance(slot)
        local = ctx.fields.get("image")
        upstream = ctx.upstream_kind is not None and ctx.upstream_kind in IMAGE_KINDS
        takes_image = ctx.kind in ("image-to-video", "nobg", "upscale")
        if ctx.upstream_kind is not None and ctx.upstream_kind not in IMAGE_KINDS | {
            "improve-prompt"
        }:
            ctx.problem(
                (), f"{ctx.kind} stages take an image, and {ctx.upstream_kind!r} yields none"
            )
        if local is not None and upstream and not uses_upstream:
            ctx.problem(("image",), "'image' and 'from' both give the input image; keep one")
        elif local is not None:
            if slot is None:
                ctx.problem(("image",), f"{self.model.slug} takes no input image")
            elif self.refs.local(slot, ("image",), local):
                ctx.input_size = self.refs.sizes.get((slot, len(self.refs.slots[slot]) - 1))
        elif upstream and not uses_upstream and ctx.kind == "text-to-video":
            ctx.problem(
                ("from",),
                "text-to-video takes no input image; use kind image-to-video, or a guidance "
                "entry with image: upstream",
            )
        elif upstream and not uses_upstream:
            if slot is None:
                ctx.problem(("from",), f"{self.model.slug} takes no reference images")
            else:
                self.refs.upstream(slot, ("from",))
        elif takes_image and not uses_upstream and not self.refs.slots:
            ctx.problem(
                (), f"{ctx.kind} needs an input image: 'from' (an upstream image) or 'image'"
            )
        if self.refs.slots:
            if "guidances" in self.params:
                ctx.problem(
                    ("params", "guidances"),
                    "guidances is built by leobatch from 'guidance', 'image' and 'from'; keep one",
                )
                self.params.pop("guidances")
            self.parameters["guidances"] = self.refs.parameters()

    def upscaler(self) -> None:
        """Pro Upscaler: width/height are the input's size; upscale_factor written out."""
        ctx = self.ctx
        for name in ("width", "height"):
            if name in self.params:
                ctx.problem(
                    ("params", name),
                    f"an upscaler's {name} is the input image's; leobatch sets it from the input",
                )
                self.params.pop(name)
        size = ctx.input_size
        if size is None and (self.refs.slots or ctx.upstream_kind is not None):
            self.skip.update({("width",), ("height",)})  # said once, here
            ctx.problem(
                ("from",) if ctx.upstream_kind is not None else ("image",),
                "the input image's size is not known at plan time; an upscaler needs it",
            )
        elif size is not None:
            self.parameters["width"], self.parameters["height"] = size
            self.origin[("width",)] = self.origin[("height",)] = (
                ("image",) if "image" in ctx.fields else ("from",)
            )
        param = self.rules.params.get("upscale_factor") if self.rules is not None else None
        default = param.default if param is not None and param.default is not None else 2
        self.parameters.setdefault("upscale_factor", self.params.pop("upscale_factor", default))
        self.origin.setdefault(("upscale_factor",), ("params", "upscale_factor"))

    def rest(self) -> None:
        """The stage's remaining ``params``, as written; then the explicit defaults."""
        for name, value in self.params.items():
            if name == "public":
                continue
            self.set(name, value, ("params", name))
        self.parameters.setdefault("quantity", 1)
        self.origin.setdefault(("quantity",), ("model",))
        rules = self.rules
        enhance = rules.params.get("prompt_enhance") if rules is not None else None
        if enhance is not None and "OFF" in enhance.values:
            self.parameters.setdefault("prompt_enhance", "OFF")
            self.origin.setdefault(("prompt_enhance",), ("model",))

    def locate(self, path: tuple[str | int, ...]) -> Path_:
        """The stage path of a problem at ``path`` inside ``parameters``."""
        if path[:1] == ("guidances",):
            found = self.refs.locate(path[1:])
            if found is not None:
                return found
        for end in range(len(path), 0, -1):
            where = self.origin.get(path[:end])
            if where is not None:
                return (*where, *path[end:]) if where[:1] == ("params",) else where
        if path and isinstance(path[0], str):
            return ("params", *path)
        return ("model",)

    def checked(self) -> None:
        """Every rule of the model, with placeholder ids standing for the run-time ones."""
        probe = _with_ids(self.parameters)
        for path, message in v2.check_parameters(self.model, probe):
            if tuple(path) not in self.skip:
                self.ctx.problem(self.locate(path), message)


_NAMES: dict[str, frozenset[str]] = {}


def _parameter_names(model: Model) -> frozenset[str]:
    """``v2.parameter_names``, once per model (a plan asks for it per job)."""
    found = _NAMES.get(model.slug)
    if found is None:
        found = _NAMES[model.slug] = frozenset(v2.parameter_names(model))
    return found


def _with_ids(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``parameters`` with a stand-in id in every reference that has none yet."""
    out = dict(parameters)
    guidances = parameters.get("guidances")
    if isinstance(guidances, Mapping):
        filled: dict[str, Any] = {}
        for slot, items in guidances.items():
            if not isinstance(items, list):
                filled[slot] = items
                continue
            filled[slot] = [_filled(item) for item in items]
        out["guidances"] = filled
    return out


def _filled(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    image = item.get("image")
    if (
        isinstance(image, Mapping)
        and "id" not in image
        and image.get("type")
        in (
            "GENERATED",
            "UPLOADED",
            "VARIATION",
        )
    ):
        return {**item, "image": {**image, "id": "00000000-0000-4000-8000-000000000000"}}
    return item


def _ext(model: Model, parameters: Mapping[str, Any]) -> str:
    if model.kind == "video":
        return "mp4"
    if model.kind == "remove-bg":
        fmt = parameters.get("format")
        return {"jpg": "jpg", "jpeg": "jpg", "webp": "webp"}.get(str(fmt).lower(), "png")
    return "png"


def build_v2(ctx: Ctx, found: Model | bool) -> Shape:
    """Fill ``ctx.body`` for ``POST /v2/generations``."""
    model = _pick_model(ctx, found)
    if model is None:
        return Shape(1, None, None, "png")
    if model.rules is None:
        ctx.problem(("model",), f"model {model.slug!r} has no known v2 parameters")
        return Shape(1, None, model.slug, _ext(model, {}))
    b = _Build(ctx, model)
    b.prompt()
    sizes = ("width", "height") if model.kind != "upscaler" else ()  # an upscaler's: the input's
    for key in (*sizes, "seed"):
        b.portable(key, key)
    default = model.rules.sizes.default
    if model.kind == "image" and default and not {"width", "height"} & set(b.parameters):
        b.parameters["width"], b.parameters["height"] = default  # the size is the price
        b.origin[("width",)] = b.origin[("height",)] = ("model",)
    b.portable("negative_prompt", "negative_prompt")
    b.portable("num_images", "quantity")
    b.styles()
    b.references()
    if model.kind == "upscaler":
        b.upscaler()
    b.rest()
    public = b.params.get("public", False)
    if not isinstance(public, bool):
        ctx.problem(("params", "public"), f"public must be true or false, not {describe(public)}")
    b.checked()
    ctx.body.update({"model": model.id, "public": public, "parameters": b.parameters})
    quantity = b.parameters.get("quantity")
    outputs = quantity if isinstance(quantity, int) and quantity > 0 else 1
    if model.kind in ("video", "remove-bg", "upscaler"):
        outputs = 1
    size = v2.media_size(model, b.parameters)
    if size is None and model.kind == "remove-bg":
        size = ctx.input_size
    return Shape(outputs, size, model.slug, _ext(model, b.parameters))
