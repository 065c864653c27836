"""Downloads never write through a symbolic link planted after planning, nor outside the root."""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leobatch.api.client import LeonardoClient
from leobatch.errors import TransientError
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.recipe import load_recipe
from leobatch.run.download import DestinationError, download
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.events import Event
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


async def _serve(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client bound to a one-route CDN that serves a PNG at every path."""
    app = Starlette(routes=[Route("/{name:path}", _serve)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdn.test") as c:
        yield c


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(output folder, a folder outside it that must stay empty)."""
    root = tmp_path / "out"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside


async def test_a_linked_folder_is_not_written_through(
    client: httpx.AsyncClient, tree: tuple[Path, Path]
) -> None:
    """root/hero -> outside: refused with the link named; nothing lands outside."""
    root, outside = tree
    (root / "hero").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DestinationError) as caught:
        await download(
            client, "http://cdn.test/a.png", root / "hero" / "0.png", media="image", root=root
        )
    assert str(caught.value) == (
        f"not written: 'hero' in {root} is a symbolic link; leobatch does not write through links"
    )
    assert list(outside.iterdir()) == []


async def test_a_link_deeper_down_is_refused_too(
    client: httpx.AsyncClient, tree: tuple[Path, Path]
) -> None:
    """root/hero/big -> outside: the walk stops at the link, whatever its depth."""
    root, outside = tree
    (root / "hero").mkdir()
    (root / "hero" / "big").symlink_to(outside, target_is_directory=True)
    dest = root / "hero" / "big" / "x" / "0.png"
    with pytest.raises(DestinationError, match=r"'hero/big' in .* is a symbolic link"):
        await download(client, "http://cdn.test/a.png", dest, media="image", root=root)
    assert list(outside.iterdir()) == []


async def test_a_link_at_the_file_name_is_refused_and_its_target_untouched(
    client: httpx.AsyncClient, tree: tuple[Path, Path]
) -> None:
    """root/0.png -> outside/victim: refused; the victim keeps its bytes, no temp file left."""
    root, outside = tree
    victim = outside / "victim.txt"
    victim.write_text("precious")
    (root / "0.png").symlink_to(victim)
    with pytest.raises(DestinationError) as caught:
        await download(client, "http://cdn.test/a.png", root / "0.png", media="image", root=root)
    assert str(caught.value) == (
        f"not written: {root / '0.png'} is a symbolic link; leobatch does not write through links"
    )
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in root.iterdir()) == ["0.png"]


async def test_a_journaled_sha_is_not_trusted_through_a_link(
    client: httpx.AsyncClient, tree: tuple[Path, Path]
) -> None:
    """A link to an outside file with the journaled bytes is not taken as the file in place."""
    root, outside = tree
    (outside / "same.png").write_bytes(PNG)
    (root / "0.png").symlink_to(outside / "same.png")
    with pytest.raises(DestinationError, match="is a symbolic link"):
        await download(
            client,
            "http://cdn.test/a.png",
            root / "0.png",
            media="image",
            root=root,
            expected_sha256=hashlib.sha256(PNG).hexdigest(),
        )


async def test_a_file_in_place_of_a_folder_is_a_clear_failure(
    client: httpx.AsyncClient, tree: tuple[Path, Path]
) -> None:
    """root/hero is a file: DestinationError (a TransientError: a failed download), no crash."""
    root, _ = tree
    (root / "hero").write_text("not a folder")
    with pytest.raises(TransientError) as caught:
        await download(
            client, "http://cdn.test/a.png", root / "hero" / "0.png", media="image", root=root
        )
    assert str(caught.value) == f"not written: 'hero' in {root} is not a folder"


async def test_the_root_replaced_by_a_link_is_refused(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The output folder itself swapped for a link: refused, nothing written at its target."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "out"
    root.symlink_to(outside, target_is_directory=True)
    with pytest.raises(
        DestinationError, match=re.escape(f"not written: {root} is a symbolic link")
    ):
        await download(client, "http://cdn.test/a.png", root / "0.png", media="image", root=root)
    assert list(outside.iterdir()) == []


async def test_folders_are_made_below_the_root_and_the_file_lands(
    client: httpx.AsyncClient, tree: tuple[Path, Path]
) -> None:
    """The common path: missing folders are made one by one and the verified file renamed in."""
    root, _ = tree
    dest = root / "hero" / "a" / "b" / "0.png"
    got = await download(client, "http://cdn.test/a.png", dest, media="image", root=root)
    assert dest.read_bytes() == PNG and got.fetched
    assert sorted(p.name for p in dest.parent.iterdir()) == ["0.png"]
    assert oct(dest.stat().st_mode & 0o777) == oct(0o600)  # as tempfile.mkstemp made it


async def test_a_destination_outside_the_root_is_refused(
    client: httpx.AsyncClient, tree: tuple[Path, Path]
) -> None:
    """dest must be inside root."""
    root, outside = tree
    with pytest.raises(DestinationError, match="is not inside"):
        await download(client, "http://cdn.test/a.png", outside / "0.png", media="image", root=root)


RECIPE = """\
version: 1
name: planted
matrix:
  seed: [1, 2]
output:
  path: "{{ stage }}/{{ seed }}-{{ index }}.{{ ext }}"
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a mug, take {{ seed }}"
    params: {width: 512, height: 512, num_images: 1, seed: "{{ seed }}"}
"""


async def test_a_link_planted_after_planning_gets_no_file_through_it(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Plan, then plant out/planted/hero -> outside, then run: each download fails with the
    link named, the run ends with missing downloads, and nothing lands outside."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(RECIPE))
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emulator.api_key, emulator.base_url) as api:
        priced = await price_online(plan, api, cache=None)
    outside = tmp_path / "outside"
    outside.mkdir()
    root = plan.output_dir
    root.mkdir(parents=True)
    (root / "hero").symlink_to(outside, target_is_directory=True)
    events: list[Event] = []
    async with LeonardoClient(emulator.api_key, emulator.base_url) as api:
        with Journal.open(root) as journal:
            result = await run_plan(
                priced,
                api,
                journal,
                options=RunOptions(time_scale=TEST_TIME_SCALE),
                on_event=events.append,
                stop=anyio.Event(),
            )
    assert list(outside.iterdir()) == []
    assert result.missing_downloads == 2
    errors = sorted(e.data["error"] for e in events if e.type == "download-failed")
    assert errors == [
        f"download hero/{seed}-0.jpg: not written: 'hero' in {root} is a symbolic link; "
        "leobatch does not write through links"
        for seed in (1, 2)
    ]
