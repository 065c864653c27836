"""Offline plans: priced per class from the rate card, equal to what the emulator charges."""
# ruff: noqa: E501  (request bodies read best on one line)

from __future__ import annotations

from pathlib import Path
from typing import Any

from leobatch.emulator.pricing import price as emulator_price
from leobatch.plan.jobs import Job, Plan
from leobatch.pricing.offline import price_offline
from leobatch.request import BuiltRequest, build_request

STAGES: list[tuple[str, dict[str, Any], str | None, tuple[int, int] | None]] = [
    ("image", {"model": "phoenix-1.0", "prompt": "p", "params": {"contrast": 3.5}}, None, None),
    (
        "image",
        {"model": "lightning-xl", "prompt": "p", "params": {"width": 512, "height": 512}},
        None,
        None,
    ),
    ("image", {"model": "diffusion-xl", "prompt": "p", "elements": ["Sparklecore"]}, None, None),
    ("image", {"prompt": "p", "params": {"photoReal": True, "num_images": 2}}, None, None),
    (
        "image",
        {"model": "lucid-origin", "prompt": "p", "params": {"contrast": 4, "ultra": True}},
        None,
        None,
    ),
    ("text-to-video", {"model": "veo3", "prompt": "p"}, None, None),
    (
        "image-to-video",
        {"prompt": "p", "params": {"resolution": "RESOLUTION_720"}},
        "image",
        (1024, 768),
    ),
    ("motion-svd", {}, "image", (1024, 768)),
    ("universal-upscale", {"params": {"upscaleMultiplier": 2}}, "image", (1024, 768)),
    ("universal-upscale", {"params": {"ultraUpscaleStyle": "REALISTIC"}}, "nobg", (1024, 768)),
    ("upscale", {}, "image", (1024, 768)),
    ("unzoom", {}, "upscale", (2048, 1536)),
    ("nobg", {}, "image", (1024, 768)),
    ("improve-prompt", {"prompt": "a mug"}, None, None),
]


def make_job(index: int, kind: str, fields: dict[str, Any], upstream: str | None,
             size: tuple[int, int] | None) -> Job:  # fmt: skip
    """A job built by the real request builder."""
    built = build_request(
        kind, fields, upstream_kind=upstream, upstream_size=size, recipe_dir=Path()
    )
    assert isinstance(built, BuiltRequest), built
    return Job(
        key=f"job-{index}", stage=kind, kind=kind,  # type: ignore[arg-type]
        endpoint=built.endpoint, body=built.body, inputs=built.inputs, outputs=built.outputs,
        size=built.size, input_size=built.input_size, model=built.model,
    )  # fmt: skip


def make_plan(jobs: list[Job]) -> Plan:
    """A plan holding ``jobs``."""
    return Plan(
        recipe_name="r", recipe_path=Path("r.yaml"), recipe_sha256="0", inputs_sha256="0",
        output_dir=Path("out"), stages=tuple(dict.fromkeys(j.stage for j in jobs)), jobs=tuple(jobs),
    )  # fmt: skip


def test_offline_price_equals_emulator_charge() -> None:
    """Every job's rate-card price is what the emulator charges for its body."""
    jobs = [make_job(i, *stage) for i, stage in enumerate(STAGES)]
    priced = price_offline(make_plan(jobs))
    assert priced.source == "rate-card" and priced.unknown_jobs == 0
    for job in jobs:
        charged = emulator_price(job.endpoint, job.body, job.input_size)
        assert priced.credits[job.key] == charged, (job.kind, dict(job.body))
    assert priced.total == sum(emulator_price(j.endpoint, j.body, j.input_size) for j in jobs)


def test_known_prices_in_a_plan() -> None:
    """Documented numbers survive the whole path: Lightning XL 4x512x512 is 15, nobg 5."""
    jobs = [make_job(i, *stage) for i, stage in enumerate(STAGES)]
    priced = price_offline(make_plan(jobs))
    assert priced.credits["job-1"] == 15
    assert priced.credits["job-12"] == 5 and priced.credits["job-13"] == 4


def test_unknown_prices_are_none_not_zero() -> None:
    """Kling and video upscale have no price: unknown, and not in the total (Kling is a
    price class of its own, for the price book to learn)."""
    jobs = [
        make_job(0, "text-to-video", {"model": "kling-2.5", "prompt": "p"}, None, None),
        make_job(1, "video-upscale", {}, "text-to-video", (832, 480)),
        make_job(2, "nobg", {}, "image", (1024, 768)),
    ]
    priced = price_offline(make_plan(jobs))
    assert priced.credits == {"job-0": None, "job-1": None, "job-2": 5}
    assert (priced.total, priced.unknown_jobs, priced.price_classes) == (5, 2, 2)


def test_classes_are_priced_once() -> None:
    """10,000 jobs over 4 distinct requests make 4 price classes."""
    templates = [make_job(i, *STAGES[i]) for i in range(4)]
    jobs = [
        Job(
            key=f"k{n}",
            stage=t.stage,
            kind=t.kind,
            endpoint=t.endpoint,
            body={**t.body, "seed": n},
            outputs=t.outputs,
            size=t.size,
        )
        for n in range(10_000)
        for t in (templates[n % 4],)
    ]
    priced = price_offline(make_plan(jobs))
    assert priced.price_classes == 4 and len(priced.credits) == 10_000
    assert priced.total == sum(priced.credits[f"k{n}"] or 0 for n in range(4)) * 2_500
