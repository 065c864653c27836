"""Online pricing: one pricing-calculator call per price class, cached on disk.

Jobs with equal ``class_key`` cost the same (``leobatch.pricing.classes``), so a plan of 10,000
jobs over 12 classes costs 12 calculator calls, issued concurrently within a small limit; the
client retries 429s and transient errors. Answers are cached in the user cache dir, keyed by
(base URL, calculator request), for ``ttl_s`` (default 24 h).

How a class is priced, and how the plan's ``source`` is labelled:

- a class with a calculator ``service``: the calculator (live or cached). If the calculator
  refuses the request, the rate card's model of it (``ratecard.calculator_cost``) is used
  instead and the plan's source becomes ``"rate-card"`` (an estimate);
- a class with a ``fixed_kind`` (upscale, unzoom, nobg, improve-prompt: kinds the calculator has
  no service for): ``ratecard.FIXED_CREDITS``. These are Leonardo's published fixed prices, so
  they do not change the label: the plan stays ``"calculator"`` while every service-priced
  class came from the calculator (also when the plan has no service-priced class);
- no way to price a job (``price_request`` gives ``None``, or an unknown fixed kind): the job's
  price is ``None`` (unknown), never 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from leobatch.api.client import LeonardoClient
from leobatch.errors import ApiError, ApiValidationError, PricingError
from leobatch.plan.jobs import Plan
from leobatch.pricing.classes import PriceRequest, price_request
from leobatch.pricing.priced import PricedPlan, PriceSource
from leobatch.pricing.ratecard import FIXED_CREDITS, calculator_cost

__all__ = ["DEFAULT_TTL_S", "PriceCache", "price_online"]

log = logging.getLogger("leobatch.pricing")

DEFAULT_TTL_S = 24 * 3600.0
_FORMAT = 1


def _canonical(service: str, params: Mapping[str, Any]) -> str:
    """The calculator request as canonical JSON: equal requests, equal text."""
    return json.dumps(
        {"service": service, "serviceParams": {service: dict(params)}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


@dataclass(frozen=True, slots=True)
class PriceCache:
    """Calculator answers on disk: ``{"format": 1, "entries": {key: {"credits", "at"}}}``.

    ``key`` is the sha256 of the base URL and the canonical calculator request. Writes replace
    the file atomically (temp file + rename); an unreadable or corrupt file is treated as empty.
    ``clock`` gives wall-clock seconds (injectable so tests can age entries).
    """

    path: Path
    ttl_s: float = DEFAULT_TTL_S
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def default(cls, ttl_s: float = DEFAULT_TTL_S) -> PriceCache:
        """The cache in the user cache dir (``platformdirs.user_cache_dir("leobatch")``)."""
        import platformdirs

        return cls(Path(platformdirs.user_cache_dir("leobatch")) / "prices.json", ttl_s)

    @staticmethod
    def key(base_url: str, request: str) -> str:
        """The cache key of a canonical calculator request sent to ``base_url``."""
        return hashlib.sha256(f"{base_url.rstrip('/')}\n{request}".encode()).hexdigest()

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("ignoring the price cache %s: %s", self.path, e)
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict) or data.get("format") != _FORMAT:
            log.warning("ignoring the price cache %s: not a leobatch price cache", self.path)
            return {}
        good: dict[str, dict[str, float]] = {}
        for key, entry in entries.items():
            credits = entry.get("credits") if isinstance(entry, dict) else None
            at = entry.get("at") if isinstance(entry, dict) else None
            if isinstance(credits, int) and isinstance(at, (int, float)):
                good[key] = {"credits": credits, "at": float(at)}
        return good

    def lookup(self, base_url: str, requests: Iterable[str]) -> dict[str, int]:
        """Fresh cached credits for each of ``requests`` found (canonical request -> credits)."""
        entries, now = self._read(), self.clock()
        found: dict[str, int] = {}
        for request in requests:
            entry = entries.get(self.key(base_url, request))
            if entry is not None and 0 <= now - entry["at"] < self.ttl_s:
                found[request] = int(entry["credits"])
        return found

    def store(self, base_url: str, prices: Mapping[str, int]) -> None:
        """Add ``prices`` (canonical request -> credits), dropping expired entries.

        A cache that cannot be written is a warning, not an error: pricing still succeeded.
        """
        now = self.clock()
        entries = {k: e for k, e in self._read().items() if 0 <= now - e["at"] < self.ttl_s}
        for request, credits in prices.items():
            entries[self.key(base_url, request)] = {"credits": credits, "at": now}
        text = json.dumps({"format": _FORMAT, "entries": entries}, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".prices-", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                Path(tmp).replace(self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            log.warning("could not write the price cache %s: %s", self.path, e)


async def _ask(
    client: LeonardoClient, requests: Mapping[str, tuple[str, Mapping[str, Any]]], concurrency: int
) -> tuple[dict[str, int], dict[str, int | None]]:
    """Calculator answers, and rate-card estimates for requests the calculator refused."""
    answered: dict[str, int] = {}
    estimated: dict[str, int | None] = {}
    failure: list[ApiError] = []
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def one(request: str, service: str, params: Mapping[str, Any]) -> None:
        async with limiter:
            try:
                answered[request] = await client.price(service, params)
            except (ApiValidationError, PricingError) as e:
                log.warning("calculator refused %s, using the rate card: %s", service, e)
                estimated[request] = calculator_cost(service, params)
            except ApiError as e:  # auth, credits, retries exhausted: the plan cannot be priced
                failure.append(e)
                tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        for request, (service, params) in requests.items():
            tg.start_soon(one, request, service, params)
    if failure:
        raise failure[0]
    return answered, estimated


async def price_online(
    plan: Plan,
    client: LeonardoClient,
    *,
    cache: PriceCache | None,
    refresh: bool = False,
    concurrency: int = 8,
) -> PricedPlan:
    """Price every job of ``plan``: one calculator call per distinct uncached request.

    ``refresh`` ignores cached answers (fresh ones are still written back). See the module
    docstring for how fixed-price kinds, refusals and unknown prices are handled and labelled.
    """
    requests: dict[str, PriceRequest] = {}
    job_class: dict[str, str | None] = {}
    for job in plan.jobs:
        req = price_request(job)
        job_class[job.key] = None if req is None else req.class_key
        if req is not None:
            requests.setdefault(req.class_key, req)

    calls: dict[str, tuple[str, Mapping[str, Any]]] = {}
    class_call: dict[str, str] = {}
    for class_key, req in requests.items():
        if req.service is not None:
            params = req.params or {}
            canonical = _canonical(req.service, params)
            calls.setdefault(canonical, (req.service, params))
            class_call[class_key] = canonical

    cached = {} if refresh or cache is None else cache.lookup(client.base_url, calls)
    todo = {r: sp for r, sp in calls.items() if r not in cached}
    answered, estimated = await _ask(client, todo, concurrency) if todo else ({}, {})
    if cache is not None and answered:
        cache.store(client.base_url, answered)
    known: dict[str, int | None] = {**cached, **answered, **estimated}

    def class_price(class_key: str | None) -> int | None:
        if class_key is None:
            return None
        if class_key in class_call:
            return known.get(class_call[class_key])
        fixed_kind = requests[class_key].fixed_kind
        return None if fixed_kind is None else FIXED_CREDITS.get(fixed_kind)

    prices = {key: class_price(class_key) for key, class_key in job_class.items()}
    source: PriceSource = "rate-card" if estimated else "calculator"
    # classes, as price_offline counts them: the same plan shows the same count online and
    # offline (each class with a service is exactly one distinct calculator request)
    return PricedPlan(plan=plan, credits=prices, source=source, price_classes=len(requests))
