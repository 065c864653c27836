"""What an emulator instance is told at start: account, limits, clock speed and faults."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["DEFAULT_USER_ID", "DURATIONS_S", "SLOW_DOWNLOAD_S", "EmulatorConfig"]

#: How long a slow download (``slow_rate``) takes at time scale 1.0.
SLOW_DOWNLOAD_S = 5.0

#: The emulated account's user id (``GET /me`` -> ``user_details[0].user.id``).
DEFAULT_USER_ID = "6e2c1f0a-5b7d-4c3e-9a8f-1d2b3c4d5e6f"

#: Base duration in seconds of each job family at time scale 1.0 (jitter of +-30% is added).
#: Video is slower than images, as on the real service.
DURATIONS_S: dict[str, float] = {
    "image": 6.0,
    "variation": 4.0,
    "universal-upscale": 10.0,
    "motion-svd": 20.0,
    "video": 30.0,
    "video-upscale": 20.0,
}


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Options of one emulator; the CLI flags and the pytest factory take the same names.

    ``time_scale`` multiplies every duration and every window (rate-limit minute, presigned upload
    window, storm period), so a test at ``0.01`` sees the same shape 100 times faster. Rates
    are probabilities in 0..1 drawn from random generators seeded by ``seed``; ``storm`` is the
    fraction of each storm period (10 s, scaled) during which every API request gets a 429;
    ``slow_rate`` downloads trickle out over ``SLOW_DOWNLOAD_S`` (scaled).
    ``retry_after`` says whether 429s carry a ``Retry-After`` header (seconds, fractional when
    the wait is below one second). ``public_url`` is the origin written into CDN and upload URLs
    (``http://127.0.0.1:8765``); when ``None`` each response uses the origin it was asked on.
    ``billing`` is the account's unit, ``"credits"`` or ``"dollars"`` (PAYG); a dollar account
    starts with ``usd`` dollars, or the dollar value of ``credits`` when ``usd`` is not given
    (``leobatch.emulator.money``). ``v2_errors_as_200`` answers refused v2 creates with HTTP 200
    and the GraphQL error array, as the real API sometimes does (api-v2-facts 1.8). ``today``
    (ISO date) is the date model lifecycles are judged on; ``None``: the UTC date.
    ``custom_models`` and ``custom_elements`` are the account's own fine-tuned model ids and
    element akUUIDs: accepted in ``modelId`` / ``elements[].akUUID`` beside the catalogue's
    (any other id is refused, as the real API refuses ids it does not know).
    ``price_factor`` scales every credit charge (rounded): 1.0 charges the rate card; another
    value plays Leonardo changing its prices under a stale rate card (drift tests).
    """

    slots: int = 10
    time_scale: float = 1.0
    credits: int = 100_000
    billing: str = "credits"
    usd: float | None = None
    v2_errors_as_200: bool = False
    price_factor: float = 1.0
    today: str | None = None
    api_key: str | None = None
    user_id: str = DEFAULT_USER_ID
    username: str = "emulator"
    webhook_url: str | None = None
    webhook_key: str | None = None
    fail_rate: float = 0.0
    error_rate: float = 0.0
    ghost_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    slow_rate: float = 0.0
    storm: float = 0.0
    seed: int = 0
    retry_after: bool = True
    requests_per_minute: int = 2000
    creates_per_slot_per_minute: int = 10
    queue_per_slot: int = 20
    public_url: str | None = None
    custom_models: tuple[str, ...] = ()
    custom_elements: tuple[str, ...] = ()
    durations_s: dict[str, float] = field(default_factory=lambda: dict(DURATIONS_S))

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError("slots must be at least 1")
        if self.billing not in ("credits", "dollars"):
            raise ValueError(f"billing must be credits or dollars, not {self.billing!r}")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        for name in (
            "fail_rate",
            "error_rate",
            "ghost_rate",
            "drop_rate",
            "truncate_rate",
            "slow_rate",
            "storm",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in 0..1, not {value}")

    def with_options(self, **options: Any) -> EmulatorConfig:
        """A copy with some options changed."""
        return replace(self, **options)

    @property
    def minute_s(self) -> float:
        """One rate-limit minute in real seconds."""
        return 60.0 * self.time_scale

    @property
    def queue_limit(self) -> int:
        """Jobs that may wait for a slot (20 per slot)."""
        return self.queue_per_slot * self.slots

    @property
    def creates_per_minute(self) -> int:
        """Create requests per minute per rate-limited create endpoint (10 per slot)."""
        return self.creates_per_slot_per_minute * self.slots
