"""Every v2 model of the catalogue, end to end on the emulator (issue 10 acceptance).

Each non-retired v2 model gets one stage of one job in a single recipe (one plan, one run: the
time scale keeps it fast): image models render from a prompt, video models from a prompt (or
from a local start frame where the model needs one), the Pro Upscalers and remove-bg from a
local image. Each model's output is then checked on disk: an image of the planned size, an MP4
that decodes, of the planned aspect and length. Every retired model (and ``kind: motion-svd``) is
refused by ``leobatch validate``, located at its line, with its retirement date.
"""

from __future__ import annotations

import datetime
import io
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import anyio
import av
import pytest
from PIL import Image

from leobatch import catalog
from leobatch.api.client import LeonardoClient
from leobatch.catalog import Model, v2
from leobatch.plan import expand_plan
from leobatch.plan.jobs import Job
from leobatch.pricing.calculator import price_online
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.journal import Journal
from leobatch.run.journal_records import OutputState as Output
from tests.cli.support import leobatch
from tests.conftest import TEST_TIME_SCALE

TODAY = "2026-12-01"
SKETCH = Path(__file__).resolve().parents[2] / "recipes" / "images" / "sketch.png"


def _today() -> datetime.date:
    return datetime.date.fromisoformat(TODAY)


CURRENT = [
    m for m in catalog.v2_models() if catalog.lifecycle(m, _today()).state != "retired"
]  # fmt: skip
RETIRED = [m for m in catalog.all_models() if catalog.lifecycle(m, _today()).state == "retired"]


def _stage_name(model: Model) -> str:
    return "m_" + re.sub(r"[^a-z0-9]+", "_", model.slug.lower()).strip("_")


def _needs_start_frame(model: Model) -> bool:
    rules = model.rules
    slot = rules.guidances.get("start_frame") if rules is not None else None
    return slot is not None and slot.min > 0


def _stage(model: Model) -> str:
    """One stage of one job for ``model``: the most natural recipe for its kind."""
    name, slug = _stage_name(model), model.slug
    if model.kind == "image":
        body = f"kind: image, model: {slug}, prompt: a lighthouse at dusk"
    elif model.kind == "video" and _needs_start_frame(model):
        body = (f"kind: image-to-video, model: {slug}, image: images/sketch.png, "
                "prompt: the lighthouse beam sweeps")  # fmt: skip
    elif model.kind == "video":
        body = f"kind: text-to-video, model: {slug}, prompt: waves at a lighthouse"
    elif model.kind == "upscaler":
        body = f"kind: upscale, model: {slug}, image: images/sketch.png"
    elif model.kind == "remove-bg":
        body = f"kind: nobg, model: {slug}, image: images/sketch.png"
    else:
        raise AssertionError(f"a v2 model kind this test does not know: {model.kind}")
    return f"  {name}: {{{body}}}\n"


def _recipe(models: list[Model]) -> str:
    return "version: 1\nname: every-v2-model\nstages:\n" + "".join(_stage(m) for m in models)


@dataclass
class Rendered:
    """The one run of every current v2 model."""

    jobs: dict[str, Job]  # stage -> its job
    outputs: dict[str, list[Output]]
    statuses: dict[str, str]
    result: RunResult
    output_dir: Path
    stats: dict[str, object]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    """Plan and run the recipe of every current v2 model once, on one emulator."""
    from tests.conftest import _start

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEOBATCH_TODAY", TODAY)
        mp.setenv("LEOBATCH_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        root = tmp_path_factory.mktemp("every-v2")
        (root / "images").mkdir()
        shutil.copy(SKETCH, root / "images" / "sketch.png")
        (root / "recipe.yaml").write_text(_recipe(CURRENT))
        emu = _start({"slots": 10})
        try:
            plan = expand_plan(load_recipe(root / "recipe.yaml"))

            async def run() -> tuple[RunResult, dict[str, list[Output]], dict[str, str]]:
                async with LeonardoClient(emu.api_key, emu.base_url) as client:
                    priced = await price_online(plan, client, cache=None)
                    with Journal.open(plan.output_dir) as journal:
                        result = await run_plan(
                            priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
                        )
                        outs = {k: list(v) for k, v in journal.all_outputs().items()}
                        return result, outs, {s.key: s.status for s in journal.jobs()}

            result, outputs, statuses = anyio.run(run)
            yield Rendered(
                jobs={job.stage: job for job in plan.jobs},
                outputs=outputs,
                statuses=statuses,
                result=result,
                output_dir=plan.output_dir,
                stats=emu.stats(),
            )
        finally:
            emu.server.stop()


def test_one_job_per_model_and_no_duplicate(rendered: Rendered) -> None:
    """The plan holds exactly one v2 job per current model; the run sent each once."""
    assert len(CURRENT) >= 70
    assert sorted(rendered.jobs) == sorted(_stage_name(m) for m in CURRENT)
    assert all(job.endpoint == "/v2/generations" for job in rendered.jobs.values())
    assert rendered.stats["duplicate_creates"] == 0
    assert rendered.result.failed == 0 and rendered.result.missing_downloads == 0


def _video_facts(data: bytes) -> tuple[tuple[int, int], float]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        frame = next(container.decode(video=0))
        assert frame.width == size[0]
        if container.duration is not None:
            length = container.duration / av.time_base
        else:
            assert stream.duration is not None and stream.time_base is not None
            length = float(stream.duration * Fraction(stream.time_base))
    return size, length


@pytest.mark.parametrize("model", CURRENT, ids=lambda m: m.slug)
def test_model_renders_end_to_end(rendered: Rendered, model: Model) -> None:
    """Planned, sent to /v2/generations with its wire string, complete, its file verified."""
    job = rendered.jobs[_stage_name(model)]
    assert job.body["model"] == model.id and job.body["public"] is False
    assert rendered.statuses[job.key] == "complete"
    outputs = rendered.outputs[job.key]
    assert len(outputs) == job.outputs == 1
    data = (rendered.output_dir / outputs[0].path).read_bytes()
    parameters = job.body["parameters"]
    if model.kind == "video":
        assert outputs[0].path.endswith(".mp4")
        size, length = _video_facts(data)
        if job.size is not None:
            # The emulator's MP4s are 64 px wide thumbnails of the planned aspect (a real
            # 1080p render would cost seconds per job): the aspect is checked, to a pixel.
            (w, h), (big_w, big_h) = size, job.size
            assert w > 0 and abs(w * big_h - h * big_w) <= 2 * big_h, (size, job.size)
        seconds = v2.duration(model, parameters)
        if seconds is not None:
            assert abs(length - seconds) <= 0.5, (length, seconds)
    else:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            assert job.size is not None
            assert image.size == job.size, (image.size, job.size)
            if model.kind == "upscaler":
                factor = parameters["upscale_factor"]
                assert image.size == (256 * factor, 256 * factor)


def _retired_stage(model: Model) -> str:
    if model.surface == "v1":
        return f"kind: text-to-video, model: {model.slug}, prompt: waves"
    if _needs_start_frame(model):
        return f"kind: image-to-video, model: {model.slug}, image: sketch.png, prompt: waves"
    return f"kind: text-to-video, model: {model.slug}, prompt: waves"


@pytest.fixture
def validate_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], tuple[int, str]]:
    """Write a one-stage recipe and run ``leobatch validate`` on it: (exit code, stderr)."""
    monkeypatch.setenv("LEOBATCH_TODAY", TODAY)
    shutil.copy(SKETCH, tmp_path / "sketch.png")

    def validate(stage: str) -> tuple[int, str]:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(f"version: 1\nname: retired\nstages:\n  clip: {{{stage}}}\n")
        done = leobatch("validate", str(recipe), cwd=tmp_path)
        return done.returncode, done.stdout + done.stderr

    return validate


@pytest.mark.parametrize("model", RETIRED, ids=lambda m: f"{m.surface}-{m.slug}")
def test_retired_model_is_refused_at_validate(
    model: Model, validate_in: Callable[[str], tuple[int, str]]
) -> None:
    """Refused with its date (and replacement), located at the stage's line; no traceback."""
    state = catalog.lifecycle(model, _today())
    code, text = validate_in(_retired_stage(model))
    assert code != 0, text
    assert state.date is not None and state.date in text, text
    assert "retired" in text and "Traceback" not in text
    assert re.search(r"recipe\.yaml:4:\d+", text), text
    if state.replacement:
        assert state.replacement in text


def test_motion_svd_kind_is_refused_at_validate(
    validate_in: Callable[[str], tuple[int, str]],
) -> None:
    """``kind: motion-svd`` (Motion 1.0 / SVD) is refused with 2026-06-17 and its replacement."""
    code, text = validate_in("kind: motion-svd, image: sketch.png")
    assert code != 0, text
    assert "2026-06-17" in text and "hailuo-2.3" in text and "Traceback" not in text
    assert re.search(r"recipe\.yaml:4:\d+", text), text


def test_the_retired_list_is_what_leonardo_retired() -> None:
    """The retirements the facts list, on both surfaces (a guard on the parametrisation)."""
    slugs = {m.slug for m in RETIRED}
    assert {"veo3", "veo3-fast", "kling-2.1", "veo-3.0-generate-001", "sora-2", "sora-2-pro",
            "seedance-1.0-lite", "svd"} <= slugs  # fmt: skip
    assert not any(m in RETIRED for m in CURRENT)
