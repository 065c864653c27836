"""Run-time inputs land where the plan said, and nowhere else."""

from __future__ import annotations

import pytest

from leobatch.errors import PlanError
from leobatch.plan.jobs import UPSTREAM_TEXT, Input, Job
from leobatch.run.inputs import fill_body


def _job(body: dict[str, object], *inputs: Input) -> Job:
    return Job(
        key="k" * 64, stage="s", kind="image", endpoint="/generations", body=body, inputs=inputs
    )


def test_top_level_and_nested_fields_are_set() -> None:
    """An upstream id goes to a top-level field; a file id into controlnets[0]."""
    job = _job(
        {"prompt": "p", "controlnets": [{"preprocessorId": 67, "initImageType": "UPLOADED"}]},
        Input("init_generation_image_id", "upstream", "generated-image"),
        Input("controlnets.0.initImageId", "file", "init-image", "a.png", "ab" * 32),
    )
    body = fill_body(
        job, {"init_generation_image_id": "img-1", "controlnets.0.initImageId": "up-1"}
    )
    assert body["init_generation_image_id"] == "img-1"
    assert body["controlnets"] == [
        {"preprocessorId": 67, "initImageType": "UPLOADED", "initImageId": "up-1"}
    ]
    assert "init_generation_image_id" not in job.body  # the job itself is untouched


def test_upstream_text_replaces_the_marker_inside_the_prompt() -> None:
    """An improve-prompt's text is spliced into the rendered template."""
    job = _job({"prompt": f"{UPSTREAM_TEXT}, cinematic"}, Input("prompt", "upstream-text", None))
    assert fill_body(job, {"prompt": "a red mug"})["prompt"] == "a red mug, cinematic"


def test_a_missing_value_is_a_plan_error() -> None:
    """Submitting with an unresolved input is refused, not sent half-filled."""
    job = _job({"prompt": "p"}, Input("id", "upstream", "generated-image"))
    with pytest.raises(PlanError, match="no value for id"):
        fill_body(job, {})
