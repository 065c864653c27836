"""Online pricing against a loopback emulator: one calculator call per class, a disk cache."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from leobatch.api.client import LeonardoClient, RetryPolicy
from leobatch.errors import AuthError
from leobatch.plan.jobs import Job, Plan
from leobatch.pricing.calculator import PriceCache, price_online
from leobatch.pricing.classes import price_request
from leobatch.pricing.priced import PricedPlan
from leobatch.pricing.ratecard import FIXED_CREDITS, calculator_cost

EmulatorHandle = Any  # tests/conftest.py's handle: base_url, api_key, state, stats()
FAST = RetryPolicy(attempts=6, rate_limited_attempts=30, base_s=0.005, cap_s=0.05)
WRONG_KEY = "9f1e2d3c-4b5a-4697-8877-665544332211"
#: 3 sizes x 4 image counts: 12 price classes
CLASSES = [(w, n) for w in (512, 768, 1024) for n in (1, 2, 3, 4)]


def _image_jobs(count: int, tag: str) -> Iterator[Job]:
    for i in range(count):
        width, num_images = CLASSES[i % len(CLASSES)]
        body = {
            "prompt": f"{tag} mug #{i}",
            "width": width,
            "height": 512,
            "num_images": num_images,
            "seed": i,
            "alchemy": i % len(CLASSES) < 6,  # part of each class's identity, not a new class
        }
        yield Job(key=f"{tag}-{i}", stage="hero", kind="image", endpoint="/generations", body=body)


def _plan(jobs: Iterator[Job] | list[Job]) -> Plan:
    return Plan(
        recipe_name="t",
        recipe_path=Path("t.yaml"),
        recipe_sha256="0" * 64,
        inputs_sha256="0" * 64,
        output_dir=Path("out"),
        stages=("hero",),
        jobs=tuple(jobs),
    )


def _calculator_calls(handle: EmulatorHandle) -> int:
    stats = httpx.get(handle.origin + "/_emulator/stats").json()
    return int(stats["requests"].get("POST /pricing-calculator", 0))


def _price(
    handle: EmulatorHandle, plan: Plan, cache: PriceCache | None, key: str | None = None, **kw: Any
) -> PricedPlan:
    async def go() -> PricedPlan:
        async with LeonardoClient(key or handle.api_key, handle.base_url, retry=FAST) as client:
            return await price_online(plan, client, cache=cache, **kw)

    return anyio.run(go)


def test_ten_thousand_jobs_twelve_calls_then_none(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """10,000 jobs over 12 classes: exactly 12 calculator calls; a warm cache makes none."""
    cache = PriceCache(tmp_path / "prices.json")
    first = _price(emulator, _plan(_image_jobs(10_000, "a")), cache)
    assert _calculator_calls(emulator) == 12
    assert (first.source, first.price_classes, first.unknown_jobs) == ("calculator", 12, 0)
    for job in first.plan.jobs[:12]:
        request = price_request(job)
        assert request is not None
        assert request.service is not None
        assert first.credits[job.key] == calculator_cost(request.service, request.params or {})
    second = _price(emulator, _plan(_image_jobs(10_000, "b")), cache)
    assert _calculator_calls(emulator) == 12
    assert second.total == first.total
    assert second.source == "calculator"
    assert emulator.api_key not in (tmp_path / "prices.json").read_text()


def test_price_equals_the_charge(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """Each class's price is what the emulator charges when the job is created."""
    jobs = list(_image_jobs(12, "c"))
    priced = _price(emulator, _plan(jobs), PriceCache(tmp_path / "p.json"))

    async def charges() -> list[int | None]:
        async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
            return [(await client.create(job.endpoint, job.body)).credits for job in jobs]

    assert anyio.run(charges) == [priced.credits[job.key] for job in jobs]


def test_refresh_and_expiry_ask_again(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """refresh=True ignores the cache; entries older than the TTL are not used."""
    now = [1_000_000.0]
    cache = PriceCache(tmp_path / "prices.json", ttl_s=60.0, clock=lambda: now[0])
    plan = _plan(_image_jobs(24, "d"))
    _price(emulator, plan, cache)
    _price(emulator, plan, cache, refresh=True)
    assert _calculator_calls(emulator) == 24
    now[0] += 59.0
    _price(emulator, plan, cache)
    assert _calculator_calls(emulator) == 24
    now[0] += 2.0
    _price(emulator, plan, cache)
    assert _calculator_calls(emulator) == 36


def test_cache_is_per_base_url(
    make_emulator: Callable[..., EmulatorHandle], tmp_path: Path
) -> None:
    """A price cached for one API is not used for another."""
    cache = PriceCache(tmp_path / "prices.json")
    one, two = make_emulator(), make_emulator()
    plan = _plan(_image_jobs(12, "e"))
    _price(one, plan, cache)
    _price(two, plan, cache)
    assert (_calculator_calls(one), _calculator_calls(two)) == (12, 12)


@pytest.mark.parametrize(
    "content", [b"{not json", b"[1, 2]", b'{"format": 99, "entries": {}}', b"\xff\xfe\x00"]
)
def test_corrupt_cache_is_ignored_and_replaced(
    emulator: EmulatorHandle, tmp_path: Path, content: bytes
) -> None:
    """A damaged cache file is treated as empty, then rewritten whole."""
    path = tmp_path / "prices.json"
    path.write_bytes(content)
    priced = _price(emulator, _plan(_image_jobs(12, "f")), PriceCache(path))
    assert priced.unknown_jobs == 0
    data = json.loads(path.read_text())
    assert (data["format"], len(data["entries"])) == (1, 12)
    assert [p.name for p in tmp_path.iterdir()] == ["prices.json"]  # no temp files left


def test_unwritable_cache_is_not_fatal(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """A cache path that cannot be created only costs the caching."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    priced = _price(emulator, _plan(_image_jobs(12, "g")), PriceCache(blocker / "prices.json"))
    assert priced.unknown_jobs == 0


def test_fixed_kinds_unknown_jobs_and_labels(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """Fixed kinds use the fixed table and keep the calculator label; Kling video is unknown
    (a price class of its own, which the price book can learn, but no calculator call)."""
    jobs = [
        *_image_jobs(2, "h"),
        Job(key="nobg", stage="s", kind="nobg", endpoint="/variations/nobg", body={}),
        Job(key="up", stage="s", kind="upscale", endpoint="/variations/upscale", body={}),
        Job(key="kling", stage="v", kind="text-to-video", endpoint="/generations-text-to-video",
            body={"prompt": "x", "model": "KLING2_1"}),
    ]  # fmt: skip
    priced = _price(emulator, _plan(jobs), PriceCache(tmp_path / "p.json"))
    assert _calculator_calls(emulator) == 2
    assert (priced.credits["nobg"], priced.credits["up"]) == (
        FIXED_CREDITS["nobg"],
        FIXED_CREDITS["upscale"],
    )
    assert priced.credits["kling"] is None
    assert (priced.source, priced.unknown_jobs, priced.price_classes) == ("calculator", 1, 5)


def test_refused_request_falls_back_to_the_rate_card(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A request the calculator refuses is estimated by the rate card, and labelled so."""
    body = {"prompt": "x", "width": 1024, "height": 1024, "num_images": 6}
    job = Job(key="big", stage="s", kind="image", endpoint="/generations", body=body)
    priced = _price(emulator, _plan([job]), PriceCache(tmp_path / "p.json"))
    request = price_request(job)
    assert request is not None
    assert request.service is not None
    assert priced.source == "rate-card"
    assert priced.credits["big"] == calculator_cost(request.service, request.params or {})
    assert _calculator_calls(emulator) == 1


def test_429s_are_retried_within_the_request_limit(
    make_emulator: Callable[..., EmulatorHandle], tmp_path: Path
) -> None:
    """Above the request limit every class still gets its price (429s retried by the client)."""
    handle = make_emulator(requests_per_minute=4)
    priced = _price(handle, _plan(_image_jobs(12, "i")), PriceCache(tmp_path / "p.json"))
    stats = handle.stats()
    assert priced.unknown_jobs == 0
    assert stats["too_many_requests"] > 0
    assert stats["calculator_calls"] == 12


def test_auth_failure_is_raised_plainly(
    make_emulator: Callable[..., EmulatorHandle], tmp_path: Path
) -> None:
    """A rejected key raises AuthError itself (not an exception group) and caches nothing."""
    handle = make_emulator(api_key="0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
    path = tmp_path / "p.json"
    with pytest.raises(AuthError):
        _price(handle, _plan(_image_jobs(12, "j")), PriceCache(path), key=WRONG_KEY)
    assert not path.exists()
    assert WRONG_KEY not in "".join(p.read_text() for p in tmp_path.iterdir())


def test_default_cache_lives_in_the_user_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """PriceCache.default() follows the platform's user cache dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-cache-test")
    assert PriceCache.default().path == Path("/tmp/xdg-cache-test/leobatch/prices.json")
