"""What the emulator remembers: jobs, images, variations, uploads, and the files they serve."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Asset",
    "Generation",
    "Image",
    "InitImage",
    "MotionVariation",
    "Timing",
    "Variation",
]


@dataclass(frozen=True, slots=True)
class Timing:
    """When a job was created, got a slot and ends (emulator clock seconds), and how it ends."""

    created: float
    start: float
    finish: float
    failed: bool

    def status(self, now: float) -> str:
        """``PENDING`` until ``finish``, then ``COMPLETE`` or ``FAILED``."""
        if now < self.finish:
            return "PENDING"
        return "FAILED" if self.failed else "COMPLETE"


@dataclass(frozen=True, slots=True)
class Image:
    """One output of a generation: a picture, or a video with its poster picture."""

    id: str
    generation_id: str
    index: int
    path: str
    width: int
    height: int
    mp4_path: str | None = None


@dataclass(frozen=True, slots=True)
class Generation:
    """A job polled at ``/generations/{id}``: images, text-to-video, image-to-video, SVD."""

    id: str
    kind: Literal["image", "video", "motion-svd"]
    endpoint: str
    created_at: str
    timing: Timing
    body: dict[str, Any]
    model_id: str | None
    model_name: str
    sd_version: str | None
    width: int
    height: int
    seed: int
    image_ids: tuple[str, ...]
    credits: int  # the charge, in minor units of the account's unit (emulator.money)
    v2_model: str | None = None  # the wire ``model`` of a v2 create (body is its envelope)


@dataclass(frozen=True, slots=True)
class Variation:
    """A job polled at ``/variations/{id}``; shown under its root generated image too."""

    id: str
    transform: Literal["UPSCALE", "UNZOOM", "NOBG"]
    endpoint: str
    created_at: str
    timing: Timing
    root_image_id: str | None
    path: str
    width: int
    height: int
    credits: int  # the charge, in minor units of the account's unit (emulator.money)
    body: dict[str, Any] = field(default_factory=dict)  # as sent: lets tests tell siblings apart


@dataclass(frozen=True, slots=True)
class MotionVariation:
    """A video upscale, polled at ``/motion-variations/{id}``."""

    id: str
    source_generation_id: str
    created_at: str
    timing: Timing
    path: str
    credits: int  # the charge, in minor units of the account's unit (emulator.money)


@dataclass(frozen=True, slots=True)
class InitImage:
    """An init image slot from ``POST /init-image``; its bytes arrive through the fake S3."""

    id: str
    extension: str
    created: float
    created_at: str
    key: str
    path: str


@dataclass(frozen=True, slots=True)
class Asset:
    """A file the CDN serves: how to draw it, and from when (``ready``) it exists."""

    kind: Literal["jpeg", "png", "png-opaque", "webp", "mp4", "upload"]
    width: int
    height: int
    lines: tuple[str, ...]
    colour_key: str
    ready: float
    failed: bool = False
    duration_s: int = 1  # an MP4's length
