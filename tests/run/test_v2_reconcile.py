"""Reconciling v2 jobs: what a v1 listing row of a v2 job shows, and the confusable gate.

A v2 row carries prompt, seed (when given), size, createdAt and status, and no model
(``modelId`` null): matching uses exactly that. A row may lack the seed or the size, so only the
prompt tells two jobs apart in the confusable gate (never ambiguous at once), across surfaces too.
"""

from __future__ import annotations

from typing import Any

import pytest

from leobatch.api._models import parse_generation
from leobatch.plan.jobs import Job
from leobatch.run.reconcile import Claimant, confusable, generation_matches

V2 = "/v2/generations"


def _v2_job(
    model: str = "gemini-image-2",
    *,
    kind: str = "image",
    size: tuple[int, int] | None = (1024, 1024),
    **parameters: Any,
) -> Job:
    params = {"prompt": "a red mug", "width": 1024, "height": 1024, "quantity": 1, **parameters}
    params = {k: v for k, v in params.items() if v is not None}
    body = {"model": model, "public": False, "parameters": params}
    key = f"{model}-{sorted(params.items())}"
    return Job(key=key, stage="s", kind=kind, endpoint=V2, body=body, outputs=1, size=size)  # type: ignore[arg-type]


def _v1_job(**body: Any) -> Job:
    full = {"prompt": "a red mug", "width": 1024, "height": 1024, "num_images": 1,
            "modelId": "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3", **body}  # fmt: skip
    return Job(key=f"v1-{sorted(full.items())}", stage="s", kind="image",
               endpoint="/generations", body=full, outputs=1)  # fmt: skip


def _row(**fields: Any) -> Any:
    row = {"id": "g-1", "status": "COMPLETE", "createdAt": "2026-12-01T12:00:00.000Z",
           "prompt": "a red mug", "modelId": None, "imageWidth": 1024, "imageHeight": 1024,
           "seed": 123456, "generated_images": [], **fields}  # fmt: skip
    return parse_generation(row)


def _claim(job: Job) -> Claimant:
    return Claimant(job, job.body)


def test_a_v2_row_matches_on_prompt_seed_and_size() -> None:
    """Prompt, a seed the request sets and the size decide; the model is not on the row."""
    job = _v2_job(seed=7)
    assert generation_matches(_row(seed=7), job, job.body)
    assert not generation_matches(_row(seed=8), job, job.body)
    assert not generation_matches(_row(prompt="a blue mug", seed=7), job, job.body)
    assert not generation_matches(_row(seed=7, imageWidth=768), job, job.body)
    # no seed in the request: the server's random seed matches anything
    unseeded = _v2_job()
    assert generation_matches(_row(seed=99), unseeded, unseeded.body)
    # a FAILED ghost is still ours to adopt (the tracker then sees its failure and refund)
    assert generation_matches(_row(status="FAILED", seed=99), unseeded, unseeded.body)


def test_an_upscaler_row_may_show_its_output_size() -> None:
    """An upscaler's request holds the input size; its row may show either size."""
    job = _v2_job("aurora-upscaler-precise", kind="upscale", size=(2048, 2048), upscale_factor=2)
    assert generation_matches(_row(), job, job.body)
    assert generation_matches(_row(imageWidth=2048, imageHeight=2048), job, job.body)
    assert not generation_matches(_row(imageWidth=4096, imageHeight=4096), job, job.body)


def test_a_row_without_size_or_seed_matches_on_prompt_alone() -> None:
    """Fields the row lacks cannot rule it out (when unsure: a candidate)."""
    job = _v2_job(seed=7)
    assert generation_matches(_row(imageWidth=None, imageHeight=None, seed=None), job, job.body)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # two models, same prompt and size: the listing cannot tell them apart
        (_v2_job("gemini-image-2"), _v2_job("gpt-image-1.5"), True),
        # same model, two qualities: parameters are not on the row
        (_v2_job("gpt-image-1.5", quality="LOW"), _v2_job("gpt-image-1.5", quality="HIGH"), True),
        # a seed on both, different: a row without its seed matches both
        (_v2_job(seed=1), _v2_job(seed=2), True),
        (_v2_job(seed=1), _v2_job("gpt-image-1.5"), True),
        # different sizes: a row without its size matches both
        (_v2_job(), _v2_job(width=768, height=1344, size=(768, 1344)), True),
        # different prompts: told apart
        (_v2_job(), _v2_job(prompt="a blue mug"), False),
        # a v2 image and a v1 image of the same prompt and size: the v2 row's null modelId
        # matches the v1 request, so they are confusable
        (_v2_job(), _v1_job(), True),
        (_v2_job(seed=3), _v1_job(seed=4, width=512, height=512), True),
        (_v2_job(), _v1_job(prompt="a blue mug"), False),
        # a v2 video and a v1 video with the same prompt
        (_v2_job("kling-2.6", kind="text-to-video", size=None),
         Job(key="t2v", stage="v", kind="text-to-video", endpoint="/generations-text-to-video",
             body={"prompt": "a red mug", "model": "MOTION2"}, outputs=1), True),
    ],
)  # fmt: skip
def test_confusable_v2(a: Job, b: Job, expected: bool) -> None:
    """Symmetric, and yes exactly when one row could match both."""
    assert confusable(_claim(a), _claim(b)) is expected
    assert confusable(_claim(b), _claim(a)) is expected


def test_confusable_agrees_with_matching() -> None:
    """Whenever one row matches both jobs, the gate calls them confusable."""
    jobs = [
        _v2_job(), _v2_job("gpt-image-1.5"), _v2_job(seed=1), _v2_job(seed=2),
        _v2_job(width=768, height=1344, size=(768, 1344)), _v1_job(), _v1_job(seed=1),
        _v2_job("aurora-upscaler-precise", kind="upscale", size=(2048, 2048), upscale_factor=2),
    ]  # fmt: skip
    rows = [
        _row(seed=s, imageWidth=w, imageHeight=h, modelId=m)
        for s in (1, 2, 99, None)
        for (w, h) in ((1024, 1024), (768, 1344), (2048, 2048), (None, None))
        for m in (None, "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3")
    ]
    checked = 0
    for row in rows:
        matching = [j for j in jobs if generation_matches(row, j, j.body)]
        for x in matching:
            for y in matching:
                if x is not y:
                    checked += 1
                    assert confusable(_claim(x), _claim(y)), (x.key, y.key, row)
    assert checked > 20
