"""Where the commands that talk to the API talk to: the environment's account, or an embedded
emulator (``--emulator``) on a fast clock, with no key and no cost."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from leobatch.api.client import LeonardoClient
    from leobatch.emulator import EmulatorConfig

__all__ = [
    "EMBEDDED_TIME_SCALE",
    "MISSING_KEY",
    "Endpoint",
    "api_endpoint",
    "embedded_config",
    "emulator_option",
    "has_key",
    "open_client",
    "require_key",
]

#: Time scale of the embedded emulator: a 6 s image job takes about 0.12 s.
EMBEDDED_TIME_SCALE = 0.02
#: What a command that needs the API says when there is no key and no ``--emulator``.
MISSING_KEY = (
    "LEONARDO_API_KEY is not set; set it to a Production API key, "
    "or add --emulator to try the offline emulator"
)

emulator_option = click.option(
    "--emulator",
    is_flag=True,
    help="Talk to an embedded offline emulator of the API: no key, no cost, fast clock.",
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An API to talk to: ``base_url``/``api_key`` ``None`` means the environment's."""

    base_url: str | None
    api_key: str | None
    time_scale: float


def has_key() -> bool:
    """Whether ``LEONARDO_API_KEY`` holds anything."""
    return bool(os.environ.get("LEONARDO_API_KEY", "").strip())


def require_key() -> None:
    """Refuse, with a hint at ``--emulator``, when there is no key to talk to the real API."""
    if not has_key():
        from leobatch.errors import AuthError

        if os.environ.get("LEONARDO_API_KEYS", "").strip():
            raise AuthError(
                "LEONARDO_API_KEY is not set; this command works on one account at a time "
                "(LEONARDO_API_KEYS is for run, plan and balance): set LEONARDO_API_KEY to "
                "each account's key in turn"
            )
        raise AuthError(MISSING_KEY)


@contextmanager
def api_endpoint(emulator: bool) -> Iterator[Endpoint]:
    """An embedded emulator for the block's duration, or the environment (whose key must be set)."""
    if not emulator:
        require_key()
        yield Endpoint(None, None, 1.0)
        return
    from leobatch.emulator import serve_in_thread

    config = embedded_config()
    with serve_in_thread(config) as base_url:
        yield Endpoint(base_url, str(uuid.uuid4()), EMBEDDED_TIME_SCALE)


def embedded_config(user_id: str | None = None) -> EmulatorConfig:
    """The embedded emulator's account: fast clock, a million credits (``user_id``: its own)."""
    from leobatch.emulator import EmulatorConfig

    config = EmulatorConfig(time_scale=EMBEDDED_TIME_SCALE, credits=1_000_000)
    return config if user_id is None else replace(config, user_id=user_id)


@asynccontextmanager
async def open_client(endpoint: Endpoint) -> AsyncIterator[LeonardoClient]:
    """A client for ``endpoint``, closed on exit."""
    from leobatch.api.client import LeonardoClient

    if endpoint.base_url is None or endpoint.api_key is None:
        client = LeonardoClient.from_env()
    else:
        client = LeonardoClient(endpoint.api_key, endpoint.base_url)
    async with client:
        yield client
