"""Finding a job the server created although the client was told it failed.

The API has no idempotency key. After an ambiguous create (timeout, reset, 5xx) or at start-up for
a job journaled *submitting*, leobatch looks for the job before it dares to resubmit (DESIGN §6):
generations in ``GET /generations/user/{userId}`` (newest first), variations under their root
generation's images. This module only *finds candidates*: every row that matches the request on
every field the API shows. Which candidate a job may claim is the engine's decision, made in one
step with no await between looking at the claims and taking one (``_submit``).

Exactness rests on two rules:

- **Matching uses every field a row carries** that the request also sets (prompt, model, seed,
  size, init strength, style, steps, guidance, scheduler, PhotoReal, Prompt Magic, Ultra,
  elements ...). A field the request leaves out matches anything (the server fills defaults).
- **Two jobs a row could both match are never ambiguous at once** (:func:`confusable`): the engine
  sends a job's create only while no confusable job has a create whose outcome is unknown, and a
  job's outcome is journaled before the next confusable create is (the *submitting* commit carries
  every earlier write). So a candidate row can only be the one unresolved job's, or a row another
  job already claimed (and claims are exact), in this run and after any kill.

**v2 jobs** (``POST /v2/generations``: images, videos, remove-bg, Pro Upscaler) are generations
listed in the same v1 listing, but their rows carry less: no model (``modelId`` is null, the v2
``model`` string is nowhere), none of the model's own parameters. What a row of a v2 job shows,
and so all it is matched on (:func:`v2_shown`): its ``prompt`` (``parameters.prompt``), its
``seed`` when the request sets one, its size (``imageWidth`` / ``imageHeight`` against the
request's ``width`` / ``height`` or the planned output size: an upscaler's request holds the
*input* size), and its ``createdAt`` inside the window that starts a little before the create
was sent (the listing is read newest first and stops there). ``status`` excludes nothing: a
ghost create that went on to FAIL is still ours (adopting it lets the tracker see the failure and
its refund instead of paying for a second job). A row that lacks a field cannot rule a job out
(seed and size are shown "when given", which is not confirmed for the real API), so only the
prompt, which every row shows, tells two v2 jobs apart in :func:`confusable`: two v2 jobs with the
same prompt are confusable whatever their models, seeds or sizes, and so are a v2 job and a v1
generation of the same prompt (a v2 row's null ``modelId`` matches any v1 request). Their creates
are then sent one at a time (only the sending is serialised, not the rendering).

What remains ambiguous is stated in the README: a row made by *another* journal (the same recipe
run into a second output folder, or by hand on the website) at the same moment, with a request
identical on every field the listing shows, cannot be told from ours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leobatch.api.client import Generation, LeonardoClient
from leobatch.plan.jobs import Job
from leobatch.run._state import is_generation, is_v2

__all__ = [
    "Claimant",
    "confusable",
    "generation_candidates",
    "generation_matches",
    "v2_shown",
    "variation_candidates",
]

#: How far the server's createdAt may precede our clock's idea of when we sent the request.
CLOCK_SKEW_S = 30.0
#: How many listing pages (of 50) to read before declaring the job absent.
MAX_PAGES = 6

TRANSFORMS: Mapping[str, frozenset[str]] = {
    "nobg": frozenset({"NOBG"}),
    "upscale": frozenset({"UPSCALE"}),
    "unzoom": frozenset({"UNZOOM"}),
    "universal-upscale": frozenset({"UNIVERSAL_UPSCALER", "UNIVERSAL_UPSCALE", "UPSCALE"}),
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same_number(a: Any, b: Any) -> bool:
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return str(a) == str(b)
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6)


def _same_flag(a: Any, b: Any) -> bool:
    return bool(a) == bool(b)


def _same_text(a: Any, b: Any) -> bool:
    return str(a) == str(b)


Same = Callable[[Any, Any], bool]

#: Request field -> (the row's field, how values compare), for image generations: every column
#: of a ``generations_by_pk`` row (api-facts §4.3) a request can set.
IMAGE_FIELDS: Mapping[str, tuple[str, Same]] = {
    "modelId": ("modelId", _same_text),
    "negative_prompt": ("negativePrompt", _same_text),
    "width": ("imageWidth", _same_number),
    "height": ("imageHeight", _same_number),
    "seed": ("seed", _same_number),
    "num_inference_steps": ("inferenceSteps", _same_number),
    "guidance_scale": ("guidanceScale", _same_number),
    "scheduler": ("scheduler", _same_text),
    "sd_version": ("sdVersion", _same_text),
    "presetStyle": ("presetStyle", _same_text),
    "init_strength": ("initStrength", _same_number),
    "public": ("public", _same_flag),
    "photoReal": ("photoReal", _same_flag),
    "photoRealStrength": ("photoRealStrength", _same_number),
    "promptMagic": ("promptMagic", _same_flag),
    "promptMagicStrength": ("promptMagicStrength", _same_number),
    "promptMagicVersion": ("promptMagicVersion", _same_text),
    "ultra": ("ultra", _same_flag),
}


def _epoch_s(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _element_ids(elements: Any) -> frozenset[str] | None:
    """The akUUIDs of a request's ``elements`` or a row's ``generation_elements``."""
    if not isinstance(elements, list):
        return None
    ids = set()
    for item in elements:
        if not isinstance(item, Mapping):
            return None
        lora = item.get("lora")
        ak = lora.get("akUUID") if isinstance(lora, Mapping) else item.get("akUUID")
        if not isinstance(ak, str):
            return None
        ids.add(ak)
    return frozenset(ids)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a listing row of a job shows, as the job's request sets it (``None``: not set).

    ``sizes`` are the sizes its row may carry (empty: unknown).
    """

    prompt: str | None
    seed: float | None
    sizes: frozenset[tuple[int, int]]


def _size(width: Any, height: Any) -> tuple[int, int] | None:
    w, h = _number(width), _number(height)
    if w is None or h is None or not w.is_integer() or not h.is_integer():
        return None
    return int(w), int(h)


def v2_shown(job: Job, body: Mapping[str, Any]) -> Shown:
    """The fields a v1 listing row of a v2 job shows (module docstring), from its request."""
    params = body.get("parameters")
    params = params if isinstance(params, Mapping) else {}
    prompt = params.get("prompt")
    sizes = {s for s in (_size(params.get("width"), params.get("height")),) if s is not None}
    if job.size is not None:
        sizes.add((int(job.size[0]), int(job.size[1])))
    return Shown(
        prompt=prompt if isinstance(prompt, str) else None,
        seed=_number(params.get("seed")),
        sizes=frozenset(sizes),
    )


def _v1_shown(body: Mapping[str, Any]) -> Shown:
    prompt = body.get("prompt")
    size = _size(body.get("width"), body.get("height"))
    return Shown(
        prompt=prompt if isinstance(prompt, str) else None,
        seed=_number(body.get("seed")),
        sizes=frozenset({size} if size is not None else ()),
    )


def _shown(job: Job, body: Mapping[str, Any]) -> Shown:
    return v2_shown(job, body) if is_v2(job) else _v1_shown(body)


def _v2_row_matches(gen: Generation, job: Job, body: Mapping[str, Any]) -> bool:
    shown = v2_shown(job, body)
    if shown.prompt is not None and (gen.prompt or "") != shown.prompt:
        return False
    if shown.seed is not None and gen.seed is not None and not _same_number(gen.seed, shown.seed):
        return False
    row_size = _size(gen.width, gen.height)
    return not (shown.sizes and row_size is not None and row_size not in shown.sizes)


def generation_matches(gen: Generation, job: Job, body: Mapping[str, Any]) -> bool:
    """Whether ``gen`` could be what ``body`` created: equal on every field both carry."""
    if is_v2(job):
        return _v2_row_matches(gen, job, body)
    prompt = body.get("prompt")
    if isinstance(prompt, str) and (gen.prompt or "") != prompt:
        return False
    if job.kind != "image":
        return True
    raw = gen.raw
    for wire, (shown, same) in IMAGE_FIELDS.items():
        value = raw.get(shown)
        if wire in body and value is not None and not same(value, body[wire]):
            return False
    if "elements" in body and raw.get("generation_elements") is not None:
        wanted, shown_ids = _element_ids(body["elements"]), _element_ids(raw["generation_elements"])
        if wanted is not None and shown_ids is not None and wanted != shown_ids:
            return False
    return True


async def generation_candidates(
    client: LeonardoClient,
    user_id: str,
    job: Job,
    body: Mapping[str, Any],
    sent_at_s: float,
) -> tuple[str, ...]:
    """Every generation that could be what ``body``, sent at ``sent_at_s``, created: oldest first.

    Reads the user's generations newest first and stops at the first one older than the request.
    """
    oldest_allowed = sent_at_s - CLOCK_SKEW_S
    limit = 50
    found: list[str] = []
    for page_no in range(MAX_PAGES):
        page = await client.list_generations(user_id, offset=page_no * limit, limit=limit)
        for gen in page:
            created = _epoch_s(gen.created_at)
            if created is not None and created < oldest_allowed:
                return tuple(reversed(found))
            if generation_matches(gen, job, body) and gen.id not in found:
                found.append(gen.id)
        if len(page) < limit:
            break
    return tuple(reversed(found))


def variation_source(body: Mapping[str, Any]) -> Any:
    """The image (generated, variation or uploaded) a variation request transforms."""
    return body.get("id") or body.get("generatedImageId") or body.get("variationId")


async def variation_candidates(
    client: LeonardoClient, root_generation_id: str, job: Job, body: Mapping[str, Any]
) -> tuple[str, ...]:
    """Every variation under the root generation's image that ``body`` could have created.

    The API files a variation of a variation under the generated image it ultimately comes from
    (api-facts §7); a row carries no parameters, only its transform, so siblings (two upscale
    strengths of one image) are told apart by the claims and the one-ambiguity-at-a-time rule.
    """
    gen = await client.get_generation(root_generation_id)
    if gen is None:
        return ()
    source = variation_source(body)
    transforms = TRANSFORMS.get(job.kind, frozenset())
    found: list[str] = []
    for image in gen.images:
        related = image.id == source or any(v.id == source for v in image.variations)
        if not related:
            continue
        for var in image.variations:
            if var.id == source or var.id in found:
                continue
            if var.transform_type is None or var.transform_type.upper() in transforms:
                found.append(var.id)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Claimant:
    """A job whose create is (or may be) out, as reconciliation would look for it.

    ``root`` is, for a variation, the generation its source image comes from (variations are
    listed there); for a generation it is ``None``.
    """

    job: Job
    body: Mapping[str, Any]
    root: str | None = None


def confusable(a: Claimant, b: Claimant) -> bool:
    """Whether one remote row could match both ``a`` and ``b`` (when unsure: yes)."""
    a_gen, b_gen = is_generation(a.job), is_generation(b.job)
    if a_gen != b_gen:
        return False
    if not a_gen:
        if a.job.kind == "video-upscale" or b.job.kind == "video-upscale":
            return False  # never reconciled: resubmitted (and never adopted)
        same_root = a.root is None or b.root is None or a.root == b.root
        overlap = TRANSFORMS.get(a.job.kind, frozenset()) & TRANSFORMS.get(b.job.kind, frozenset())
        return same_root and bool(overlap)
    if is_v2(a.job) or is_v2(b.job):
        # A v2 row may show only its prompt (module docstring): nothing else tells them apart.
        pa, pb = _shown(a.job, a.body).prompt, _shown(b.job, b.body).prompt
        return pa is None or pb is None or pa == pb
    pa, pb = a.body.get("prompt"), b.body.get("prompt")
    if isinstance(pa, str) and isinstance(pb, str) and pa != pb:
        return False
    if a.job.kind != "image" or b.job.kind != "image":
        return True
    for wire, (_row, same) in IMAGE_FIELDS.items():
        if wire in a.body and wire in b.body and not same(a.body[wire], b.body[wire]):
            return False
    ea, eb = _element_ids(a.body.get("elements")), _element_ids(b.body.get("elements"))
    return not (ea is not None and eb is not None and ea != eb)
