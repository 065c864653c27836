"""The wire format: every create endpoint leobatch uses and the body fields it accepts.

This table is the single source of truth for request bodies on both sides of the protocol: the
recipe's request builder refuses fields not listed here (as the real API does), and the emulator
validates bodies against it. ``tests/api/test_wire.py`` checks it against the official SDK's
request models, plus the two fields the real API accepts that SDK 7.0.0 lacks
(``contextImages`` and ``styleUUID`` on ``/generations``; api-facts sections 4.1 and 11).

Field types are small tags: ``str``, ``int``, ``number``, ``bool``, ``list[str]``,
``list[object]``, ``object``, or ``enum`` with the allowed values. An ``object`` (or the items of
a ``list[object]``) carries its own field table, its required fields and its GraphQL input type
name (from Leonardo's OpenAPI document, or chosen where the document has none), so nested
objects are checked field by field, exactly like a body. ``nullable=False`` marks the fields the
OpenAPI document declares non-nullable: an explicit ``null`` there is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "CONTEXT_IMAGE_INPUT",
    "CONTROLNET_INPUT",
    "ELEMENT_INPUT",
    "ENDPOINTS",
    "ENDPOINT_BY_KIND",
    "END_FRAME_IMAGE",
    "PRESET_STYLES",
    "STRENGTH_TYPES",
    "USER_ELEMENTS_INPUT",
    "VIDEO_MODELS",
    "VIDEO_RESOLUTIONS",
    "Endpoint",
    "FieldType",
]

_NO_FIELDS: Mapping[str, FieldType] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FieldType:
    """The type of one body field. ``enum`` lists the allowed values when the field is an enum.

    For ``object`` and ``list[object]``: ``fields`` is the nested field table (empty means any
    object), ``required`` its required fields and ``name`` its GraphQL input type (messages).
    """

    tag: str
    enum: tuple[str, ...] = ()
    fields: Mapping[str, FieldType] = field(default_factory=lambda: _NO_FIELDS, hash=False)
    required: tuple[str, ...] = ()
    name: str = ""
    nullable: bool = True


def _t(tag: str) -> FieldType:
    return FieldType(tag)


def _enum(*values: str, nullable: bool = True) -> FieldType:
    return FieldType("enum", values, nullable=nullable)


def _object(name: str, fields: Mapping[str, FieldType], *required: str,
            many: bool = False) -> FieldType:  # fmt: skip
    tag = "list[object]" if many else "object"
    return FieldType(tag, fields=MappingProxyType(dict(fields)), required=required, name=name)


PRESET_STYLES: tuple[str, ...] = (
    "ANIME", "BOKEH", "CINEMATIC", "CINEMATIC_CLOSEUP", "CREATIVE", "DYNAMIC", "ENVIRONMENT",
    "FASHION", "FILM", "FOOD", "GENERAL", "HDR", "ILLUSTRATION", "LEONARDO", "LONG_EXPOSURE",
    "MACRO", "MINIMALISTIC", "MONOCHROME", "MOODY", "NONE", "NEUTRAL", "PHOTOGRAPHY", "PORTRAIT",
    "RAYTRACED", "RENDER_3D", "RETRO", "SKETCH_BW", "SKETCH_COLOR", "STOCK_PHOTO", "VIBRANT",
    "UNPROCESSED",
)  # fmt: skip
VIDEO_MODELS: tuple[str, ...] = (
    "MOTION2",
    "VEO3",
    "MOTION2FAST",
    "VEO3FAST",
    "KLING2_1",
    "KLING2_5",
)
VIDEO_RESOLUTIONS: tuple[str, ...] = ("RESOLUTION_480", "RESOLUTION_720", "RESOLUTION_1080")
SD_VERSIONS: tuple[str, ...] = (
    "v1_5", "v2", "v3", "SDXL_0_8", "SDXL_0_9", "SDXL_1_0", "SDXL_LIGHTNING", "PHOENIX", "FLUX",
    "FLUX_DEV", "KINO_2_0",
)  # fmt: skip

_STR, _INT, _NUM, _BOOL = _t("str"), _t("int"), _t("number"), _t("bool")
_LIST_STR = _t("list[str]")
_NON_NULL_STR = FieldType("str", nullable=False)
_IMAGE_TYPE = _enum("GENERATED", "UPLOADED", nullable=False)
STRENGTH_TYPES: tuple[str, ...] = ("Low", "Mid", "High", "Ultra", "Max")

#: ``elements[]`` items: OpenAPI ``element_input`` (akUUID required, weight defaults to 1.0)
ELEMENT_INPUT = _object("element_input", {"akUUID": _NON_NULL_STR, "weight": _NUM}, "akUUID",
                        many=True)  # fmt: skip
#: ``controlnets[]`` items: OpenAPI ``controlnet_input`` (no ``influence``: api-facts 11.4)
CONTROLNET_INPUT = _object(
    "controlnet_input",
    {
        "initImageId": _NON_NULL_STR,
        "initImageType": _IMAGE_TYPE,
        "preprocessorId": FieldType("number", nullable=False),
        "weight": _NUM,
        "strengthType": _enum(*STRENGTH_TYPES),
    },
    "initImageId",
    "initImageType",
    "preprocessorId",
    many=True,
)
#: ``userElements[]`` items: OpenAPI ``user_elements_input``
USER_ELEMENTS_INPUT = _object("user_elements_input", {"userLoraId": _NUM, "weight": _NUM},
                              many=True)  # fmt: skip
#: ``contextImages[]`` items (FLUX.1 Kontext; api-facts 4.1: ``[{type, id}]``; not in the
#: OpenAPI document, so the type name is ours)
CONTEXT_IMAGE_INPUT = _object("context_image_input", {"type": _IMAGE_TYPE, "id": _NON_NULL_STR},
                              "type", "id", many=True)  # fmt: skip
#: ``endFrameImage`` of image-to-video (OpenAPI: an inline object, ``id`` and ``type`` required)
END_FRAME_IMAGE = _object("end_frame_image_input", {"id": _NON_NULL_STR, "type": _IMAGE_TYPE},
                          "id", "type")  # fmt: skip

_VIDEO_COMMON: dict[str, FieldType] = {
    "prompt": _NON_NULL_STR,
    "duration": _INT,
    "elements": ELEMENT_INPUT,
    "frameInterpolation": _BOOL,
    "height": _INT,
    "width": _INT,
    "isPublic": _BOOL,
    "model": _enum(*VIDEO_MODELS),
    "negativePrompt": _STR,
    "promptEnhance": _BOOL,
    "promptEnhanceInstruction": _STR,
    "resolution": _enum(*VIDEO_RESOLUTIONS),
    "seed": _INT,
    "styleIds": _LIST_STR,
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A create endpoint: its path, the response key of its job, and its body fields.

    ``job_id_field`` names the id inside the response object (``generationId`` or ``id``);
    ``poll`` is the path family its job is polled at (``None`` when synchronous).
    ``surface`` is ``"v1"`` (``path`` relative to the v1 base URL, ``.../api/rest/v1``) or
    ``"v2"`` (``path`` starts with ``/v2`` and is relative to the API root, ``.../api/rest``).
    """

    path: str
    response_key: str
    job_id_field: str
    poll: str | None
    fields: Mapping[str, FieldType]
    required: tuple[str, ...] = ()
    rate_limited: bool = True
    extra: Mapping[str, str] = field(default_factory=dict)
    surface: str = "v1"


ENDPOINTS: Mapping[str, Endpoint] = {
    "/generations": Endpoint(
        path="/generations",
        response_key="sdGenerationJob",
        job_id_field="generationId",
        poll="/generations/{id}",
        required=("prompt",),
        fields={
            "alchemy": _BOOL,
            "canvasInitId": _STR,
            "canvasMaskId": _STR,
            "canvasRequest": _BOOL,
            "canvasRequestType": _enum("INPAINT", "OUTPAINT", "SKETCH2IMG", "IMG2IMG"),
            "contextImages": CONTEXT_IMAGE_INPUT,
            "contrast": _NUM,
            "contrastRatio": _NUM,
            "controlNet": _BOOL,
            "controlNetType": _enum("POSE", "CANNY", "DEPTH", nullable=False),
            "controlnets": CONTROLNET_INPUT,
            "elements": ELEMENT_INPUT,
            "enhancePrompt": _BOOL,
            "enhancePromptInstruction": _STR,
            "expandedDomain": _BOOL,
            "fantasyAvatar": _BOOL,
            "guidance_scale": _NUM,
            "height": _INT,
            "highContrast": _BOOL,
            "highResolution": _BOOL,
            "imagePromptWeight": _NUM,
            "imagePrompts": _LIST_STR,
            "init_generation_image_id": _STR,
            "init_image_id": _STR,
            "init_strength": _NUM,
            "modelId": _STR,
            "negative_prompt": _STR,
            "num_images": _INT,
            "num_inference_steps": _INT,
            "photoReal": _BOOL,
            "photoRealStrength": _NUM,
            "photoRealVersion": _STR,
            "presetStyle": _enum(*PRESET_STYLES),
            "prompt": _NON_NULL_STR,
            "promptMagic": _BOOL,
            "promptMagicStrength": _NUM,
            "promptMagicVersion": _STR,
            "public": _BOOL,
            "scheduler": _enum(
                "KLMS",
                "EULER_ANCESTRAL_DISCRETE",
                "EULER_DISCRETE",
                "DDIM",
                "DPM_SOLVER",
                "PNDM",
                "LEONARDO",
                nullable=False,
            ),
            "sd_version": _enum(*SD_VERSIONS, nullable=False),
            "seed": _INT,
            "styleUUID": _STR,
            "tiling": _BOOL,
            "transparency": _enum("disabled", "foreground_only"),
            "ultra": _BOOL,
            "unzoom": _BOOL,
            "unzoomAmount": _NUM,
            "upscaleRatio": _NUM,
            "userElements": USER_ELEMENTS_INPUT,
            "weighting": _NUM,
            "width": _INT,
        },
    ),
    "/generations-text-to-video": Endpoint(
        path="/generations-text-to-video",
        response_key="motionVideoGenerationJob",
        job_id_field="generationId",
        poll="/generations/{id}",
        required=("prompt",),
        rate_limited=False,
        fields=_VIDEO_COMMON,
    ),
    "/generations-image-to-video": Endpoint(
        path="/generations-image-to-video",
        response_key="motionVideoGenerationJob",
        job_id_field="generationId",
        poll="/generations/{id}",
        required=("imageId", "imageType", "prompt"),
        rate_limited=False,
        fields={
            **_VIDEO_COMMON,
            "imageId": _NON_NULL_STR,
            "imageType": _IMAGE_TYPE,
            "endFrameImage": END_FRAME_IMAGE,
        },
    ),
    "/generations-motion-svd": Endpoint(
        path="/generations-motion-svd",
        response_key="motionSvdGenerationJob",
        job_id_field="generationId",
        poll="/generations/{id}",
        required=("imageId",),
        rate_limited=False,
        fields={
            "imageId": _NON_NULL_STR,
            "isInitImage": _BOOL,
            "isPublic": _BOOL,
            "isVariation": _BOOL,
            "motionStrength": _INT,
        },
    ),
    "/generations-video-upscale": Endpoint(
        path="/generations-video-upscale",
        response_key="motionVideoGenerationJob",
        job_id_field="variationId",
        poll="/motion-variations/{id}",
        required=("sourceGenerationId", "resolution"),
        rate_limited=False,
        fields={"sourceGenerationId": _STR, "resolution": _enum("RESOLUTION_720")},
    ),
    "/variations/upscale": Endpoint(
        path="/variations/upscale",
        response_key="sdUpscaleJob",
        job_id_field="id",
        poll="/variations/{id}",
        required=("id",),
        fields={"id": _NON_NULL_STR},
    ),
    "/variations/unzoom": Endpoint(
        path="/variations/unzoom",
        response_key="sdUnzoomJob",
        job_id_field="id",
        poll="/variations/{id}",
        fields={"id": _NON_NULL_STR, "isVariation": _BOOL},
    ),
    "/variations/nobg": Endpoint(
        path="/variations/nobg",
        response_key="sdNobgJob",
        job_id_field="id",
        poll="/variations/{id}",
        required=("id",),
        fields={"id": _NON_NULL_STR, "isVariation": FieldType("bool", nullable=False)},
    ),
    "/variations/universal-upscaler": Endpoint(
        path="/variations/universal-upscaler",
        response_key="universalUpscaler",
        job_id_field="id",
        poll="/variations/{id}",
        fields={
            "creativityStrength": _INT,
            "detailContrast": _INT,
            "generatedImageId": _STR,
            "initImageId": _STR,
            "prompt": _STR,
            "similarity": _INT,
            "ultraUpscaleStyle": _enum("ARTISTIC", "REALISTIC"),
            "upscaleMultiplier": _NUM,
            "upscalerStyle": _enum(
                "GENERAL", "CINEMATIC", "2D ART & ILLUSTRATION", "CG ART & GAME ASSETS"
            ),
            "variationId": _STR,
        },
    ),
    # The v2 surface (api-v2-facts 1.1-1.4): one create for every v2 model; the envelope is
    # checked here, ``parameters`` per model by ``leobatch.catalog.v2.check_parameters``. Its
    # job is read through the v1 ``GET /generations/{id}`` (there is no documented v2 GET).
    "/v2/generations": Endpoint(
        path="/v2/generations",
        response_key="generate",
        job_id_field="generationId",
        poll="/generations/{id}",
        required=("model", "parameters"),
        fields={
            "model": _NON_NULL_STR,
            "public": _BOOL,
            "parameters": FieldType("object", nullable=False, name="parameters"),
        },
        surface="v2",
    ),
    "/prompt/improve": Endpoint(
        path="/prompt/improve",
        response_key="promptGeneration",
        job_id_field="",
        poll=None,
        required=("prompt",),
        rate_limited=False,
        fields={"prompt": _NON_NULL_STR, "isVideo": _BOOL, "promptInstructions": _STR},
    ),
}

#: job kind (DESIGN section 5) -> its create endpoint
ENDPOINT_BY_KIND: Mapping[str, Endpoint] = {
    "image": ENDPOINTS["/generations"],
    "text-to-video": ENDPOINTS["/generations-text-to-video"],
    "image-to-video": ENDPOINTS["/generations-image-to-video"],
    "motion-svd": ENDPOINTS["/generations-motion-svd"],
    "upscale": ENDPOINTS["/variations/upscale"],
    "unzoom": ENDPOINTS["/variations/unzoom"],
    "nobg": ENDPOINTS["/variations/nobg"],
    "universal-upscale": ENDPOINTS["/variations/universal-upscaler"],
    "video-upscale": ENDPOINTS["/generations-video-upscale"],
    "improve-prompt": ENDPOINTS["/prompt/improve"],
}
