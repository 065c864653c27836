"""Provenance inside every output file: runs on the emulator, read back the way tools read it."""

from __future__ import annotations

import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.events import Event
from leobatch.run.journal import Journal, OutputState
from leobatch.run.provenance import NAMESPACE, Provenance, embed_image, parameters_text, xmp
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio

PROMPT = "a <b>mug</b> & 'tea' \"quoted\" café ☕ 東京, take {{ seed }}"
RECIPE = """\
version: 1
name: prov
matrix:
  seed: [7, 8]
output:
  metadata: METADATA
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: 'PROMPT'
    negative_prompt: blurry, text
    params: {width: 512, height: 512, num_images: 1, seed: "{{ seed }}"}
  clean:
    kind: nobg
    from: hero
  clip:
    kind: text-to-video
    model: motion-2.0
    prompt: "a cat & a <dog>, take {{ seed }}"
""".replace("PROMPT", PROMPT.replace("'", "''"))
#: The events a download ends with.
_FETCHES = ("downloaded", "download-failed", "failed")
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _price(tmp_path: Path, emu: EmulatorHandle, *, metadata: bool = True) -> PricedPlan:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("METADATA", "true" if metadata else "false"))
    plan = expand_plan(load_recipe(path))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        return await price_online(plan, client, cache=None)


async def _run(priced: PricedPlan, emu: EmulatorHandle, events: list[Event]) -> RunResult:
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:
            return await run_plan(
                priced,
                client,
                journal,
                options=RunOptions(time_scale=TEST_TIME_SCALE),
                on_event=events.append,
            )


def _outputs(priced: PricedPlan) -> dict[str, list[OutputState]]:
    """Every output of the run, by stage."""
    by_stage: dict[str, list[OutputState]] = {}
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        for job in priced.plan.jobs:
            by_stage.setdefault(job.stage, []).extend(journal.outputs(job.key))
    return by_stage


def _xmp_values(packet: bytes) -> dict[str, str]:
    """leobatch's XMP properties (local name -> text), parsed as an XML reader would."""
    root = ET.fromstring(packet.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])
    desc = root.find(f"{_RDF}RDF/{_RDF}Description")
    assert desc is not None
    ns = "{" + NAMESPACE + "}"
    return {el.tag[len(ns) :]: el.text or "" for el in desc if el.tag.startswith(ns)}


def parse_a1111(text: str) -> dict[str, str]:
    """Parse ``parameters`` the way A1111-reading tools do (webui's
    ``parse_generation_parameters``): the last line holds ``key: value`` pairs (values quoted
    when they hold commas), a line starting ``Negative prompt:`` begins the negative prompt,
    and everything before it is the prompt."""
    pair = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
    *lines, last = text.strip().split("\n")
    found = pair.findall(last)
    if len(found) < 3:
        lines.append(last)
        found = []
    prompt, negative, in_negative = "", "", False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[16:].strip()
        if in_negative:
            negative += ("" if not negative else "\n") + line
        else:
            prompt += ("" if not prompt else "\n") + line
    result = {"Prompt": prompt, "Negative prompt": negative}
    for key, value in found:
        result[key] = json.loads(value) if value[:1] == '"' else value
    return result


async def test_png_and_jpeg_outputs_carry_prompt_seed_model_and_job_key(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Read back with Pillow: the JPEG's XMP and the PNG's A1111 text and XMP name the job."""
    priced = await _price(tmp_path, emulator)
    result = await _run(priced, emulator, [])
    assert (result.complete, result.failed) == (6, 0)
    jobs = {job.key: job for job in priced.plan.jobs}
    outputs = _outputs(priced)
    for stage, fmt in (("hero", "JPEG"), ("clean", "PNG")):
        for out in outputs[stage]:
            job = jobs[out.job_key]
            seed = job.matrix["seed"]
            prompt = PROMPT.replace("{{ seed }}", str(seed))
            with Image.open(priced.plan.output_dir / out.path) as im:
                assert im.format == fmt
                values = _xmp_values(im.info["xmp"])
                if fmt == "PNG":
                    shown = parse_a1111(im.info["parameters"])
                    assert shown["Prompt"] == prompt
                    assert shown["Negative prompt"] == "blurry, text"
                    assert (shown["Seed"], shown["Model"]) == (str(seed), "lightning-xl")
                    assert shown["leobatch job"] == job.key
                    assert shown["Size"] == f"{im.width}x{im.height}"
                im.load()  # the labelled file still decodes completely
            assert values["prompt"] == prompt  # markup, quotes and non-ASCII survive XML
            assert (values["seed"], values["model"]) == (str(seed), "lightning-xl")
            assert (values["job"], values["stage"], values["recipe"]) == (job.key, stage, "prov")
            assert values["negativePrompt"] == "blurry, text"
            assert json.loads(values["matrix"]) == {"seed": seed}
            assert int(values["creditsCharged"]) > 0
            assert emulator.api_key not in values.values()


async def test_mp4_outputs_carry_their_provenance_in_tags(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """PyAV reads the remuxed MP4's title, comment (A1111 text) and description (JSON); it plays."""
    priced = await _price(tmp_path, emulator)
    await _run(priced, emulator, [])
    jobs = {job.key: job for job in priced.plan.jobs}
    for out in _outputs(priced)["clip"]:
        job = jobs[out.job_key]
        with av.open(str(priced.plan.output_dir / out.path)) as container:
            tags = dict(container.metadata)
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == 12  # every frame copied, none re-encoded away
        assert tags["title"] == job.prompt
        described = json.loads(tags["description"])
        assert (described["job"], described["model"]) == (job.key, "motion-2.0")
        assert described["prompt"] == job.prompt
        shown = parse_a1111(tags["comment"])
        assert (shown["Prompt"], shown["leobatch job"]) == (job.prompt, job.key)
        assert out.sha256 != out.served_sha256


async def test_the_manifest_has_the_file_as_written_and_as_served(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """sha256 is of the file on disk, served_sha256 of the CDN's bytes; labelling keeps pixels."""
    priced = await _price(tmp_path, emulator)
    await _run(priced, emulator, [])
    manifest = json.loads((priced.plan.output_dir / "manifest.json").read_text())
    entries = [out for job in manifest["jobs"] for out in job["outputs"]]
    assert len(entries) == 6
    async with httpx.AsyncClient() as http:
        for entry in entries:
            served = (await http.get(entry["url"])).content
            written = (priced.plan.output_dir / entry["path"]).read_bytes()
            assert entry["served_sha256"] == hashlib.sha256(served).hexdigest()
            assert entry["sha256"] == hashlib.sha256(written).hexdigest() != entry["served_sha256"]
            assert entry["bytes"] == len(written)
            if not entry["path"].endswith(".mp4"):
                with Image.open(io.BytesIO(served)) as a, Image.open(io.BytesIO(written)) as b:
                    assert a.tobytes() == b.tobytes()  # not re-encoded


async def test_metadata_false_keeps_every_file_byte_for_byte(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """output.metadata: false: on disk, as written and as served are the emulator's bytes."""
    priced = await _price(tmp_path, emulator, metadata=False)
    await _run(priced, emulator, [])
    manifest = json.loads((priced.plan.output_dir / "manifest.json").read_text())
    entries = [out for job in manifest["jobs"] for out in job["outputs"]]
    assert len(entries) == 6
    async with httpx.AsyncClient() as http:
        for entry in entries:
            served = hashlib.sha256((await http.get(entry["url"])).content).hexdigest()
            on_disk = hashlib.sha256((priced.plan.output_dir / entry["path"]).read_bytes())
            assert on_disk.hexdigest() == entry["sha256"] == entry["served_sha256"] == served


async def test_a_resume_fetches_nothing_and_a_lost_file_comes_back_the_same(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Files in place with their written sha256 are kept (no CDN request); a deleted one is
    fetched again, checked against its served sha256, and labelled to the same bytes."""
    priced = await _price(tmp_path, emulator)
    await _run(priced, emulator, [])
    cdn = emulator.stats()["requests"].get("GET /cdn", 0)
    events: list[Event] = []
    await _run(priced, emulator, events)
    assert emulator.stats()["requests"].get("GET /cdn", 0) == cdn
    assert not [e for e in events if e.type in _FETCHES]
    lost = _outputs(priced)["clean"][0]
    before = (priced.plan.output_dir / lost.path).read_bytes()
    (priced.plan.output_dir / lost.path).unlink()
    events = []
    await _run(priced, emulator, events)
    assert [e.type for e in events if e.type in _FETCHES] == ["downloaded"]
    assert (priced.plan.output_dir / lost.path).read_bytes() == before
    again = _outputs(priced)["clean"][0]
    assert (again.sha256, again.served_sha256, again.bytes) == (
        lost.sha256,
        lost.served_sha256,
        lost.bytes,
    )


def _provenance(**fields: Any) -> Provenance:
    values: dict[str, Any] = {
        "recipe": "mugs",
        "recipe_sha256": "f" * 64,
        "stage": "hero",
        "kind": "image",
        "job_key": "ab" * 32,
        "index": 0,
        "model": "phoenix-1.0",
        "prompt": "a mug, on a table",
        "negative_prompt": "blurry, text",
        "seed": 42,
        "steps": 30,
        "matrix": {"seed": 42, "shot": {"name": "wide"}},
        "credits_charged": 12,
    }
    return Provenance(**{**values, **fields})


def test_a1111_parameters_are_what_a1111_readers_parse() -> None:
    """Prompt before "Negative prompt:", then one key: value line: a reader gets every field."""
    text = parameters_text(_provenance(prompt="a mug\non two lines, with: colons"), (1024, 768))
    assert text == (
        "a mug\non two lines, with: colons\n"
        "Negative prompt: blurry, text\n"
        "Steps: 30, Seed: 42, Size: 1024x768, Model: phoenix-1.0, "
        f"leobatch job: {'ab' * 32}, leobatch stage: hero, leobatch recipe: mugs"
    )
    shown = parse_a1111(text)
    assert shown["Prompt"] == "a mug\non two lines, with: colons"
    assert shown["Negative prompt"] == "blurry, text"
    assert (shown["Steps"], shown["Seed"], shown["Size"]) == ("30", "42", "1024x768")
    assert (shown["Model"], shown["leobatch job"]) == ("phoenix-1.0", "ab" * 32)


def test_a1111_text_cannot_be_split_by_the_prompt() -> None:
    """NULs are stripped; a prompt line that looks like the negative prompt stays in the prompt;
    a value with a comma is quoted (as A1111 writes it), so it stays one value."""
    p = _provenance(prompt="a\x00 mug\nNegative prompt: none", recipe="mugs, v2")
    shown = parse_a1111(parameters_text(p))
    assert shown["Prompt"] == "a mug\n Negative prompt: none"
    assert shown["Negative prompt"] == "blurry, text"
    assert shown["leobatch recipe"] == "mugs, v2"


def _image(fmt: str, mode: str = "RGB", **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (96, 64), (200, 120, 30, 128)[: len(mode)]).save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("JPEG", "RGB", {"quality": 90}),
        ("WEBP", "RGB", {}),
        ("WEBP", "RGBA", {"lossless": True}),
        ("WEBP", "RGB", {"lossless": True}),
        ("WEBP", "RGBA", {"exif": b"Exif\x00\x00II*\x00"}),
    ],
)
def test_markup_quotes_and_non_ascii_survive_in_every_image_format(
    fmt: str, mode: str, options: dict[str, Any]
) -> None:
    """A prompt with <, &, quotes, control characters and non-ASCII reads back from the XMP of
    a PNG, JPEG and WebP (simple and extended), pixels and other metadata untouched."""
    prompt = "<x:xmpmeta> & </rdf:RDF> 'single' \"double\" ]]> café ☕ 東京\x01\x0b"
    served = _image(fmt, mode, **options)
    labelled = embed_image(served, _provenance(prompt=prompt))
    assert labelled is not None
    with Image.open(io.BytesIO(labelled)) as im, Image.open(io.BytesIO(served)) as before:
        assert im.format == fmt
        assert im.tobytes() == before.tobytes()
        assert im.info.get("exif") == before.info.get("exif")
        values = _xmp_values(im.info["xmp"])
        if fmt == "PNG":
            assert parse_a1111(im.info["parameters"])["Prompt"] == prompt
    assert values["prompt"] == prompt.replace("\x01", "").replace("\x0b", "")
    assert (values["seed"], values["job"]) == ("42", "ab" * 32)


def test_labelling_twice_replaces_the_first_label() -> None:
    """A file labelled again carries one label, the new one (readers take one)."""
    once = embed_image(_image("JPEG"), _provenance(seed=1))
    assert once is not None
    twice = embed_image(once, _provenance(seed=2))
    assert twice is not None
    assert twice.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1
    png = embed_image(embed_image(_image("PNG"), _provenance(seed=1)) or b"", _provenance(seed=2))
    assert png is not None and png.count(b"parameters") == 1
    with Image.open(io.BytesIO(twice)) as im:
        assert _xmp_values(im.info["xmp"])["seed"] == "2"


def test_other_formats_are_left_as_served() -> None:
    """A GIF (or anything else) is not labelled: the caller keeps the served bytes."""
    assert embed_image(_image("GIF"), _provenance()) is None


def test_the_api_key_is_never_written_into_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces: a value holding the API key's value is redacted in every label."""
    secret = "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"
    monkeypatch.setenv("LEONARDO_API_KEY", secret)
    p = _provenance(prompt=f"a mug {secret}", matrix={"key": secret})
    assert secret not in parameters_text(p)
    assert secret.encode() not in xmp(p)
    labelled = embed_image(_image("PNG"), p)
    assert labelled is not None and secret.encode() not in labelled


def test_a_huge_matrix_value_still_fits_a_jpeg_segment() -> None:
    """The XMP is shortened to fit the 64 KB JPEG segment rather than dropped."""
    p = _provenance(matrix={"notes": "&" * 500_000})
    labelled = embed_image(_image("JPEG"), p)
    assert labelled is not None
    with Image.open(io.BytesIO(labelled)) as im:
        assert _xmp_values(im.info["xmp"])["seed"] == "42"


def test_embedding_is_cheap(capsys: pytest.CaptureFixture[str]) -> None:
    """Labelling a 1024x1024 PNG and JPEG costs well under a millisecond or two each."""
    import time

    samples = {}
    for fmt in ("PNG", "JPEG"):
        out = io.BytesIO()
        Image.effect_noise((1024, 1024), 64).convert("RGB").save(out, fmt)
        samples[fmt] = out.getvalue()
    p = _provenance()
    for fmt, data in samples.items():
        start = time.process_time()
        for _ in range(50):
            assert embed_image(data, p) is not None
        per_file_ms = (time.process_time() - start) / 50 * 1000
        with capsys.disabled():
            print(f"\nlabelling a {len(data) // 1024} KB {fmt}: {per_file_ms:.2f} ms CPU")
        assert per_file_ms < 20
