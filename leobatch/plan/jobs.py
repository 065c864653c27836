"""The values a plan is made of: jobs, their run-time inputs, the plan itself.

These types are the contract between the pipeline stages (expand -> price -> run -> manifest).
Fields may be added; none may be renamed or removed without updating every stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from leobatch.errors import Problem

__all__ = ["UPSTREAM_TEXT", "Input", "Job", "Kind", "Plan", "Upstream"]

#: Stands for an upstream improve-prompt's text in a rendered template until run time.
UPSTREAM_TEXT = "\u2063{upstream.text}\u2063"

#: Every job kind of DESIGN section 5.
Kind = Literal[
    "image",
    "text-to-video",
    "image-to-video",
    "motion-svd",
    "upscale",
    "unzoom",
    "nobg",
    "universal-upscale",
    "video-upscale",
    "improve-prompt",
]


@dataclass(frozen=True, slots=True)
class Upstream:
    """The upstream job output a downstream job consumes."""

    key: str
    output: int


@dataclass(frozen=True, slots=True)
class Input:
    """A request field whose value is only known at run time.

    ``field`` is a dotted path into the wire body (``"id"``, ``"init_image_id"``,
    ``"controlnets.0.initImageId"``). ``source`` says where the value comes from:

    - ``"upstream"``: the id of the upstream output (a generated image id, a variation id or,
      for video upscale, the upstream generation id; see ``id_kind``);
    - ``"file"``: the init-image id of a local file, uploaded once per account (``path`` is
      relative to the recipe's folder, ``sha256`` its content hash);
    - ``"upstream-text"``: the text an upstream ``improve-prompt`` job returned. At plan time the
      template was rendered with ``UPSTREAM_TEXT`` standing for that text; the run engine
      replaces the marker inside the string at ``field`` (``id_kind`` is ``None``).
    """

    field: str
    source: Literal["upstream", "file", "upstream-text"]
    id_kind: Literal["generated-image", "variation", "generation", "init-image"] | None
    path: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One API request of a plan, fully rendered.

    ``body`` is the wire request body without run-time ids (those are in ``inputs``).
    ``key`` is the content hash of the canonical request (DESIGN section 6, Identity).
    ``paths`` are the output files, relative to the output dir, one per output.
    ``size`` is the (width, height) of each output image or video, when known at plan time;
    ``input_size`` the size of the image the job consumes (upscaler pricing needs it).
    """

    key: str
    stage: str
    kind: Kind
    endpoint: str
    body: Mapping[str, Any]
    inputs: tuple[Input, ...] = ()
    upstream: Upstream | None = None
    matrix: Mapping[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    model: str | None = None
    outputs: int = 0
    paths: tuple[str, ...] = ()
    size: tuple[int, int] | None = None
    input_size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every job of a recipe, upstream jobs before their downstream jobs."""

    recipe_name: str
    recipe_path: Path
    recipe_sha256: str
    inputs_sha256: str
    output_dir: Path
    stages: tuple[str, ...]
    jobs: tuple[Job, ...]
    budget_credits: int | None = None
    budget_usd: Decimal | None = None
    #: what a job of unknown price reserves while in flight, per unit (``budget.*``)
    unknown_job_ceiling: int | None = None
    unknown_job_ceiling_usd: Decimal | None = None
    concurrency: int | None = None
    create_per_minute: int | None = None
    requests_per_minute: int | None = None
    retry_failed_jobs: int = 2
    #: stage name -> its kind, for every stage (also those that yield no job)
    stage_kinds: Mapping[str, str] = field(default_factory=dict)
    #: ``output.metadata``: label each output file with its provenance (leobatch.run.provenance)
    output_metadata: bool = True
    #: located warnings found while planning (a model retiring soon): not errors
    warnings: tuple[Problem, ...] = ()

    @property
    def outputs(self) -> int:
        """Media files the plan yields in all."""
        return sum(job.outputs for job in self.jobs)
