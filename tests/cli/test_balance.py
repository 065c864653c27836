"""`leobatch balance` against a loopback emulator: output, --json, and the key errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from leobatch.cli import main

EmulatorHandle = Any  # tests/conftest.py's handle: base_url, api_key, state, stats()
OTHER_KEY = "9f1e2d3c-4b5a-4697-8877-665544332211"


def _run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: Mapping[str, str | None],
    *args: str,
) -> tuple[int, str, str]:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["balance", *args])
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def _env(handle: EmulatorHandle, key: str | None = None) -> dict[str, str]:
    return {"LEONARDO_API_KEY": key or handle.api_key, "LEONARDO_API_BASE_URL": handle.base_url}


def test_balance_text(
    make_emulator: Callable[..., EmulatorHandle],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Credits (paid + subscription), slots and renewal date, one per line."""
    handle = make_emulator(credits=45_677, slots=5)
    code, out, err = _run(monkeypatch, capsys, _env(handle))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"account         emulator ({handle.state.config.user_id})"
    assert lines[1:] == [
        "credits         45,677",
        "  paid          45,677",
        "  subscription  0",
        "slots           5",
        "renewal date    none",
    ]


def test_balance_json(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one object with the same facts."""
    code, out, _ = _run(monkeypatch, capsys, _env(emulator), "--json")
    assert code == 0
    data = json.loads(out)
    assert data == {
        "user_id": emulator.state.config.user_id,
        "username": "emulator",
        "credits": emulator.state.balance,
        "paid_credits": emulator.state.balance,
        "subscription_credits": 0,
        "slots": 10,
        "renewal_date": None,
        "unit": "CREDITS",
        "usd": None,
    }


def test_balance_of_a_dollar_account(
    make_emulator: Callable[..., EmulatorHandle],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pay-as-you-go account (emulator --billing dollars) shows its balance in US dollars."""
    emu = make_emulator(billing="dollars", usd=12.5)
    code, out, _ = _run(monkeypatch, capsys, _env(emu))
    assert code == 0
    assert "balance         USD 12.50 (pay-as-you-go, in US dollars)" in out
    assert "credits" not in out
    code, out, _ = _run(monkeypatch, capsys, _env(emu), "--json")
    data = json.loads(out)
    assert (data["unit"], data["usd"]) == ("DOLLARS", "12.5")


def test_missing_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """No LEONARDO_API_KEY: exit 1 saying which variable to set."""
    code, out, err = _run(monkeypatch, capsys, {"LEONARDO_API_KEY": None})
    assert (code, out) == (1, "")
    assert err.startswith("error: LEONARDO_API_KEY is not set")


def test_malformed_key(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key that is not a UUID: the API's auth-hook answer, exit 1, the key not echoed."""
    code, out, err = _run(monkeypatch, capsys, _env(emulator, key="my-secret-token"))
    assert (code, out) == (1, "")
    assert err == (
        "error: GET /me: HTTP 500: Invalid response from authorization hook "
        "(the API key was not accepted; check LEONARDO_API_KEY)\n"
    )
    assert "my-secret-token" not in err


def test_wrong_key(
    make_emulator: Callable[..., EmulatorHandle],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A well-formed key the account does not have: 401, exit 1."""
    handle = make_emulator(api_key="0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
    code, _, err = _run(monkeypatch, capsys, _env(handle, key=OTHER_KEY))
    assert code == 1
    assert "HTTP 401: Authentication hook unauthorized this request" in err
    assert OTHER_KEY not in err


def test_plain_http_to_a_remote_host_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The key is never sent over plain http except to loopback."""
    env = {"LEONARDO_API_KEY": OTHER_KEY, "LEONARDO_API_BASE_URL": "http://example.com/api"}
    code, _, err = _run(monkeypatch, capsys, env)
    assert code == 1
    assert "refusing plain http to example.com" in err


def test_balance_as_a_subprocess(emulator: EmulatorHandle) -> None:
    """The installed entry point, end to end, in its own process."""
    env = {**os.environ, **_env(emulator)}
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "balance", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["slots"] == 10
    assert emulator.api_key not in done.stdout + done.stderr
