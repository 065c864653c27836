"""The report of a real emulator run, opened in a real headless Chromium (Debian's).

Playwright drives the system ``chromium`` (``.ci/run`` installs it; ``playwright install`` is
never run): no console error, every image loads, one cell per output, the credit totals of the
manifest, a failed job's message, keyboard navigation and the viewer, a video that plays, and a
prompt holding ``<script>`` that stays text. A screenshot is written for the test log
(``LEOBATCH_UPDATE_SCREENSHOT=1`` copies it to ``tests/report/report-screenshot.png``, the
README's picture).
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.recipe import load_recipe
from leobatch.report import build_report, resolve_source
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle
from tests.report.support import grid_run, job_entry, write_manifest, write_output

SCREENSHOT = Path(__file__).with_name("report-screenshot.png")

RECIPE = """\
version: 1
name: mug-review
description: Two models, two styles, three subjects; one subject is refused by moderation.
matrix:
  model: [phoenix-1.0, lightning-xl]
  style: [CINEMATIC, MOODY]
  subject: [ceramic mug, glass teapot, naked mug]
stages:
  hero:
    kind: image
    model: "{{ model }}"
    prompt: "a {{ subject }} on a marble table, {{ style | lower }} light"
    params: {width: 768, height: 512, num_images: 1, presetStyle: "{{ style }}", contrast: 3.5}
  cutout:
    kind: nobg
    from: hero
  teaser:
    kind: text-to-video
    model: motion-2.0
    when: "{{ model == 'phoenix-1.0' and subject == 'ceramic mug' }}"
    prompt: "a steaming {{ subject }}, slow dolly in, {{ style | lower }} mood"
    params: {resolution: RESOLUTION_480}
"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "the browser test needs Debian's chromium: apt-get install -y chromium "
            "(.ci/run installs it when missing; `playwright install` is not used)"
        )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs playwright: pip install '.[test]'")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield instance
        instance.close()


async def _render(recipe: Path, emu: EmulatorHandle) -> None:
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal:
            options = RunOptions(time_scale=TEST_TIME_SCALE, retry_failed_jobs=0)
            await run_plan(priced, client, journal, options=options)


class _Page:
    """One browser tab (reused: a new tab costs about half a second) that records every
    console error, page error, failed request and dialog since the last :meth:`goto`."""

    def __init__(self, browser: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 820})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("dialog", self._dialog)

    def goto(self, path: Path) -> _Page:
        """Open the report page at ``path`` (a file:// URL, as a user would)."""
        self.errors.clear()
        self.dialogs.clear()
        self.page.goto(path.as_uri())
        return self

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def all_images_loaded(self) -> int:
        """Load every (lazy) thumbnail and video poster; returns how many; fails on any broken
        one."""
        broken = self.page.evaluate(
            """async () => {
              const imgs = Array.from(document.images);
              imgs.forEach(i => { i.loading = "eager"; });
              const all = imgs;
              await Promise.all(all.map(i => i.decode().catch(() => null)));
              return { n: all.length, broken: all.filter(i => !(i.complete && i.naturalWidth > 0))
                .map(i => i.src) };
            }"""
        )
        assert broken["broken"] == [], broken
        return int(broken["n"])


def test_the_report_of_a_real_run_works_in_chromium(
    tmp_path: Path, emulator: EmulatorHandle, browser: Any
) -> None:
    """A 2x2x3 grid with a refused subject, a nobg stage and a video stage, viewed for real."""
    recipe = tmp_path / "mug-review.yaml"
    recipe.write_text(textwrap.dedent(RECIPE))
    # Playwright's sync API runs an event loop in this thread: the run gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, _render, recipe, emulator).result()
    source = resolve_source(recipe)
    result = build_report(source.output_dir, order=source.order, recipe_dir=source.recipe_dir)
    manifest = json.loads((source.output_dir / "manifest.json").read_text())
    jobs = manifest["jobs"]
    outputs = sum(len(job["outputs"]) for job in jobs)
    assert manifest["totals"]["failed"] == 4 and outputs == 8 + 8 + 2

    folder = result.index.parent
    tab = _Page(browser)
    index = tab.goto(result.index)
    charged = index.page.get_attribute("#total-charged", "data-charged")
    estimated = index.page.get_attribute("#total-estimated", "data-estimated")
    assert (int(str(charged)), int(str(estimated))) == (
        manifest["totals"]["credits_charged"],
        manifest["totals"]["credits_estimated"],
    )
    assert index.page.locator("ul.failures li").count() == 4

    seen_outputs = seen_cells = page_charged = 0
    for stage, file in result.files.items():
        view = tab.goto(folder / file)
        seen_cells += view.page.locator(".cell").count()
        seen_outputs += view.page.locator(".cell[data-full]:not([data-full=''])").count()
        page_charged += int(str(view.page.get_attribute(".page-total", "data-charged")))
        view.all_images_loaded()
        assert view.errors == [], (stage, view.errors)
    assert seen_outputs == outputs
    assert seen_cells == outputs + sum(1 for job in jobs if not job["outputs"])
    assert page_charged == manifest["totals"]["credits_charged"]

    hero = tab.goto(folder / result.files["hero"])
    page = hero.page
    failed = page.locator(".cell.failed .status-msg").first
    assert "content moderation filter: naked" in failed.inner_text()
    assert hero.all_images_loaded() == 8
    # Keyboard: Right moves along the row, Down to the next row, Enter opens the viewer.
    page.keyboard.press("ArrowRight")
    first = page.evaluate("document.activeElement.id")
    page.keyboard.press("ArrowRight")
    second = page.evaluate("document.activeElement.id")
    assert first.startswith("c-") and second.startswith("c-") and first != second
    top = page.evaluate("document.activeElement.getBoundingClientRect().top")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.getBoundingClientRect().top") > top
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.id") == first
    page.keyboard.press("Enter")
    assert page.locator("#viewer").is_visible()
    assert (
        page.locator("#viewer .v-media img").evaluate("i => i.decode().then(() => i.naturalWidth)")
        > 0
    )
    page.keyboard.press("Escape")
    assert page.locator("#viewer").is_hidden()
    page.keyboard.press("Home")  # back to the top for the picture
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(f"#{first}").focus()
    shot = tmp_path / "report-screenshot.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("LEOBATCH_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)
    assert hero.errors == []

    teaser = tab.goto(folder / result.files["teaser"])
    teaser.page.locator(".cell button.play").first.click()
    played = teaser.page.locator(".cell video").first.evaluate(
        """async v => { await v.play(); await new Promise(r => setTimeout(r, 300));
                       return v.currentTime > 0 || v.ended; }"""
    )
    assert played is True
    assert teaser.errors == []


def test_a_prompt_with_a_script_never_runs(tmp_path: Path, browser: Any) -> None:
    """Prompts, values and errors holding markup show as text; no script of theirs runs."""
    out = tmp_path / "out"
    evil = '<script>alert("prompt")</script><img src=x onerror="alert(1)">'
    jobs = grid_run(out, {"seed": [1, 2]})
    jobs[0]["prompt"] = evil
    jobs.append(
        job_entry(
            "e" * 64, "hero", {"seed": 3}, status="failed", charged=None, error=evil, prompt=evil
        )
    )
    jobs.append(
        job_entry("f" * 64, evil, {"seed": 4}, [write_output(out, "x/f.jpg", b"not an image")])
    )
    write_manifest(out, jobs)
    result = build_report(out)
    tab = _Page(browser)
    for file in ["index.html", *result.files.values()]:
        view = tab.goto(result.index.parent / file)
        view.page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        view.page.keyboard.press("ArrowRight")
        view.page.keyboard.press("Enter")
        view.page.wait_for_timeout(50)
        assert view.dialogs == [] and view.errors == [], (file, view.dialogs, view.errors)
        if file == result.files["hero"]:
            assert evil in view.page.locator(".prompt").all_inner_texts()
            assert view.page.locator(".cell.failed .status-msg").inner_text() == f"failed: {evil}"
