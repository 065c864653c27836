"""The v2 surface: ``POST /v2/generations`` and ``GET /v2/models`` (api-v2-facts 1, 2, 3.1-3.2).

A create is checked in this order, and refused with the GraphQL error array (``refusal``):

1. the envelope ``{model, public, parameters}``: unknown fields (``Unexpected variable <name>``;
   the sync-only ``ephemeral``/``base64`` included), ``model`` a string, ``public`` a boolean,
   ``parameters`` an object;
2. the model: unknown (``<model> is not supported within the Production API ...``, the v1 words
   for an unknown model id), retired (``<model> was retired on <date> ...`` naming its
   replacement);
3. the model's parameter rules, with the catalogue's own ``check_parameters`` (every problem at
   once, each at its path), so plan-time checks and the emulator never disagree. One exception,
   as the real API behaves (api-v2-facts 1.8, [C]): on Nano Banana 2 a width and a height that
   are each listed but are not a listed pair are *accepted* and rendered square (the listed
   square nearest in pixels). leobatch refuses that pair at plan time; the emulator does not;
4. moderation of the prompt (403, as v1);
5. the referenced ids (``v2_refs``);
6. then, as every create: the queue, the charge (``pricing_v2``), a slot; the ghost fault.

The job lives in the same store as v1 jobs: read through ``GET /generations/{id}``, listed,
deletable, webhooks; its outputs are ``generated_images`` whose ids are GENERATED ids for v1 and
v2 alike. Images are PNGs at the output size (``media_size``; 0x0 and remove-bg: the first
reference's size; upscalers: input x factor), remove-bg a PNG with alpha (or its ``format``),
without a size nor a reference the first listed pair of the ``mode``; videos an MP4 of
``duration`` seconds (plus a poster JPEG) at ``motionMP4URL``.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from leobatch import catalog
from leobatch.catalog import Model, v2
from leobatch.emulator.http import ok, state_of
from leobatch.emulator.jobs import admit, after_create, file_stem, new_id
from leobatch.emulator.pricing_v2 import v2_price
from leobatch.emulator.records import Asset, Generation, Image
from leobatch.emulator.refusal import GraphQLRefusal, Refusal
from leobatch.emulator.routes_generations import moderate
from leobatch.emulator.state import EmulatorState, iso_now
from leobatch.emulator.v2_refs import Reference, check_references

__all__ = ["ROUTES", "V2_PATH", "model_schema", "square_unlisted_pair"]

V2_PATH = "/v2/generations"
_ENVELOPE = ("model", "public", "parameters")
_FAMILY = {"image": "image", "video": "video", "upscaler": "universal-upscale",
           "remove-bg": "variation"}  # fmt: skip
_REMOVE_BG_KINDS = {"png": "png", "jpg": "jpeg", "webp": "webp"}
_DEFAULT_SIZE = (1024, 1024)
_DEFAULT_SECONDS = 5
_SQUARING_MODELS = ("nano-banana-2",)  # unlisted pairs accepted and rendered 1:1 [C]


def _models() -> dict[str, Model]:
    return {m.id: m for m in catalog.v2_models()}


def _today(state: EmulatorState) -> datetime.date:
    if state.config.today:
        return datetime.date.fromisoformat(state.config.today)
    return datetime.datetime.now(datetime.timezone.utc).date()


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(["parameters", *(str(p) for p in path)])


async def _envelope(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError as e:
        raise GraphQLRefusal(400, [("", f"invalid JSON body: {e}")]) from e
    if not isinstance(body, dict):
        raise GraphQLRefusal(400, [("", "the body must be a JSON object")])
    problems = [(name, f"Unexpected variable {name}") for name in body if name not in _ENVELOPE]
    if not isinstance(body.get("model"), str):
        problems.append(("model", 'expecting a value for non-nullable variable: "model"'))
    if "public" in body and not isinstance(body["public"], bool):
        problems.append(("public", "expected a boolean for type 'Boolean'"))
    if not isinstance(body.get("parameters"), dict):
        problems.append(("parameters", 'expecting an object for variable: "parameters"'))
    if problems:
        raise GraphQLRefusal(400, problems)
    return body


def _model(state: EmulatorState, name: str) -> Model:
    model = _models().get(name)
    if model is None:
        message = (f"{name} is not supported within the Production API. "
                   "Please try again with a different model.")  # fmt: skip
        raise GraphQLRefusal(400, [("model", message)])
    life = catalog.lifecycle(model, _today(state))
    if life.state == "retired":
        instead = catalog.find_model(life.replacement) if life.replacement else None
        tail = f" Please use {instead.id} instead." if instead is not None else ""
        message = f"{name} was retired on {life.date} and is no longer available.{tail}"
        raise GraphQLRefusal(400, [("model", message)])
    return model


def square_unlisted_pair(model: Model, parameters: Mapping[str, Any]) -> dict[str, Any] | None:
    """Nano Banana 2's silent 1:1: ``parameters`` with a listed width and a listed height that
    are not a listed pair replaced by the listed square nearest in pixels; else ``None``."""
    rules = model.rules
    if model.id not in _SQUARING_MODELS or rules is None:
        return None
    sizes = rules.sizes
    width, height = parameters.get("width"), parameters.get("height")
    if not (isinstance(width, int) and isinstance(height, int)) or (width, height) in sizes.pairs:
        return None
    if width not in sizes.widths or height not in sizes.heights or width == 0 or height == 0:
        return None
    squares = [w for w, h in sizes.pairs if w == h]
    if not squares:
        return None
    side = min(squares, key=lambda s: (abs(s * s - width * height), s))
    return {**parameters, "width": side, "height": side}


def _checked(model: Model, parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters the job is made with, or every problem refused at once."""
    problems = v2.check_parameters(model, parameters)
    if problems:
        squared = square_unlisted_pair(model, parameters)
        if squared is not None and not v2.check_parameters(model, squared):
            return squared
        raise GraphQLRefusal(400, [(_dotted(path), message) for path, message in problems])
    return parameters


def _output_size(
    model: Model, parameters: Mapping[str, Any], refs: list[Reference]
) -> tuple[int, int]:
    size = v2.media_size(model, parameters)
    if size is not None:
        return size
    pictures = [r for r in refs if r.item == "image"]
    if pictures:
        return pictures[0].width, pictures[0].height
    return _listed_size(model, parameters)


def _listed_size(model: Model, parameters: Mapping[str, Any]) -> tuple[int, int]:
    """No size and nothing to match (Kling 3.0 without a start frame): the first listed pair of
    the ``mode`` asked for (or its default), the first listed pair, or 1024x1024."""
    rules = model.rules
    if rules is None:
        return _DEFAULT_SIZE
    mode_param = rules.params.get("mode")
    mode = parameters.get("mode", mode_param.default if mode_param is not None else None)
    pairs = rules.sizes.by_mode.get(mode) if isinstance(mode, str) else None
    pairs = pairs or rules.sizes.pairs
    return pairs[0] if pairs else _DEFAULT_SIZE


def _quantity(model: Model, parameters: Mapping[str, Any]) -> int:
    given = parameters.get("quantity")
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        return given
    return model.rules.quantity_default if model.rules is not None else 1


async def _create(request: Request) -> Response:
    state = state_of(request)
    body = await _envelope(request)
    model = _model(state, body["model"])
    parameters = _checked(model, body["parameters"])
    prompt = parameters.get("prompt")
    if isinstance(prompt, str):
        moderate(prompt)
    refs = check_references(state, parameters)
    size = _output_size(model, parameters, refs)
    quantity = (
        1 if model.kind in ("video", "remove-bg", "upscaler") else _quantity(model, parameters)
    )
    seconds = v2.duration(model, parameters) if model.kind == "video" else None
    now = state.now()
    amount = v2_price(state.money, model, parameters, size, quantity, seconds)
    admission = admit(state, _FAMILY[model.kind], 0, now, amount=amount)
    gen_id = new_id()
    base = f"users/{state.config.user_id}/generations/{gen_id}/"
    stem = file_stem(model.name, str(prompt or model.kind)[:30])
    seed = parameters.get("seed")
    lines: tuple[str, ...] = (str(prompt or model.name), f"model: {model.name}",
                              f"{size[0]}x{size[1]}")  # fmt: skip
    if isinstance(seed, int):
        lines += (f"seed: {seed}",)
    timing = admission.timing
    ids = []
    for i in range(quantity):
        image_id = new_id()
        mp4_path = None
        if model.kind == "video":
            rel, mp4 = f"{base}{stem}.jpg", f"{base}{stem}-0.mp4"
            length = seconds or _DEFAULT_SECONDS
            state.assets[mp4] = Asset("mp4", *size, (), gen_id, timing.finish, timing.failed,
                                      length)  # fmt: skip
            state.assets[rel] = admission.asset("jpeg", *size, lines, gen_id)
            mp4_path = "/cdn/" + mp4
        elif model.kind == "remove-bg":
            kind = _REMOVE_BG_KINDS.get(str(parameters.get("format", "png")), "png")
            rel = f"{base}{stem}_{i}.{'jpg' if kind == 'jpeg' else kind}"
            state.assets[rel] = admission.asset(kind, *size, lines, f"{gen_id}:{i}")
        else:
            rel = f"{base}{stem}_{i}.png"
            state.assets[rel] = admission.asset("png-opaque", *size, lines, f"{gen_id}:{i}")
        state.images[image_id] = Image(image_id, gen_id, i, "/cdn/" + rel, *size, mp4_path)
        ids.append(image_id)
    generation = Generation(
        gen_id, "video" if model.kind == "video" else "image", V2_PATH, iso_now(), timing, body,
        None, model.name, None, *size, seed if isinstance(seed, int) else 0, tuple(ids), amount,
        model.id,
    )  # fmt: skip
    state.generations[gen_id] = generation
    state.listing.append(gen_id)
    after_create(state, V2_PATH, body, gen_id, admission, True)
    return ok({"generate": {"generationId": gen_id, **state.money.cost(amount)}})


async def create_v2_generation(request: Request) -> Response:
    """POST /v2/generations: one job of any non-retired catalogued v2 model."""
    state = state_of(request)
    as_200 = state.config.v2_errors_as_200
    try:
        return await _create(request)
    except GraphQLRefusal as refusal:
        return refusal.graphql_response(as_200)
    except Refusal as refusal:
        if refusal.status in (400, 403):  # business refusals (money, moderation): GraphQL too
            return GraphQLRefusal(refusal.status, [("", refusal.message)]).graphql_response(as_200)
        raise  # queue-full 429, ghost 500: the gateway's flat envelope, as on v1


def _param_schema(param: Any) -> dict[str, Any]:
    kinds = {"enum": "string", "int": "integer", "number": "number", "bool": "boolean",
             "string": "string", "object": "object", "array": "array"}  # fmt: skip
    schema: dict[str, Any] = {}
    if param.type in kinds:
        schema["type"] = kinds[param.type]
    if param.values:
        schema["enum"] = list(param.values)
    if param.min is not None:
        schema["minimum"] = param.min
    if param.max is not None:
        schema["maximum"] = param.max
    if param.default is not None:
        schema["default"] = param.default
    return schema


def model_schema(model: Model) -> dict[str, Any]:
    """A JSON-Schema-like description of ``model``'s ``parameters`` (``GET /v2/models``)."""
    rules = model.rules
    assert rules is not None
    props: dict[str, Any] = {}
    if rules.prompt:
        prompt: dict[str, Any] = {"type": "string", "minLength": rules.prompt_min}
        if rules.prompt_max is not None:
            prompt["maxLength"] = rules.prompt_max
        props["prompt"] = prompt
    if rules.sizes.kind != "none":
        for axis in ("width", "height"):
            props[axis] = {"type": "integer", "minimum": 0}
    props["quantity"] = {"type": "integer", "minimum": 1, "maximum": rules.quantity_max,
                         "default": rules.quantity_default}  # fmt: skip
    if rules.durations:
        props["duration"] = {"type": "integer", "enum": list(rules.durations)}
    if rules.guidances:
        slots = {
            name: {"type": "array", "maxItems": slot.max, "minItems": slot.min,
                   "items": {"type": "object", "properties": {slot.item: {
                       "type": "object", "properties": {"id": {"type": "string"},
                       "type": {"type": "string", "enum": list(slot.types)}}}}}}
            for name, slot in rules.guidances.items()
        }  # fmt: skip
        props["guidances"] = {"type": "object", "properties": slots, "additionalProperties": False}
    if rules.styles:
        props["style_ids"] = {"type": "array", "items": {"type": "string",
                              "enum": list(rules.styles.values())}}  # fmt: skip
        if rules.styles_max is not None:
            props["style_ids"]["maxItems"] = rules.styles_max
    for name, param in rules.params.items():
        props.setdefault(name, _param_schema(param))
    required = [n for n in rules.required if n in props]
    if rules.prompt and rules.prompt_required:
        required.insert(0, "prompt")
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}  # fmt: skip


async def list_v2_models(request: Request) -> Response:
    """GET /v2/models: the non-retired catalogued v2 models, as the 3P probe saw the answer:
    a UUID (not the wire string, which the list does not carry), the display name and a
    JSON-Schema-like ``parameters`` object."""
    today = _today(state_of(request))
    rows = [
        {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"leonardo-v2-model:{m.id}")), "name": m.name,
         "parameters": model_schema(m)}
        for m in catalog.v2_models()
        if catalog.lifecycle(m, today).state != "retired"
    ]  # fmt: skip
    return JSONResponse({"productionApiAvailableModels": rows})


ROUTES: list[tuple[str, str, Any, str | None]] = [
    (V2_PATH, "POST", create_v2_generation, V2_PATH),
    ("/v2/models", "GET", list_v2_models, None),
]
