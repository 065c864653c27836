"""Several API keys in one run (issue #12 item 5): jobs spread over the accounts, whole
pipelines each, every job on one account only, each account within its own slots; killed with
SIGKILL and resumed, nothing is sent twice on either."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from leobatch.account_store import account_fingerprint
from leobatch.api.client import LeonardoClient
from leobatch.errors import AuthError
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.accounts import AccountSlot, assign_jobs, keys_from
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.events import Event, discard
from leobatch.run.journal import Journal
from leobatch.run.multi import AccountsError
from tests.conftest import EmulatorHandle
from tests.run.kills import kill_after_events

TIME_SCALE = 0.05
KEY_A = "11111111-1111-4111-8111-111111111111"
KEY_B = "22222222-2222-4222-8222-222222222222"
USER_A = "aaaaaaaa-0000-4000-8000-00000000000a"
USER_B = "bbbbbbbb-0000-4000-8000-00000000000b"

RECIPE = """\
version: 1
name: accounts
matrix:
  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a ceramic mug, account test {{ seed }}"
    params: {width: 512, height: 512, num_images: 1, seed: "{{ seed }}"}
  clean:
    kind: nobg
    from: hero
"""


def _two(make_emulator: Callable[..., EmulatorHandle]) -> tuple[EmulatorHandle, EmulatorHandle]:
    """Two accounts of 4 slots each, on emulators of their own (each its own user)."""
    a = make_emulator(time_scale=TIME_SCALE, slots=4, api_key=KEY_A, user_id=USER_A)
    b = make_emulator(time_scale=TIME_SCALE, slots=4, api_key=KEY_B, user_id=USER_B)
    return a, b


def _priced(recipe: Path, emu: EmulatorHandle) -> PricedPlan:
    async def price() -> PricedPlan:
        async with LeonardoClient(emu.api_key, emu.base_url) as client:
            return await price_online(expand_plan(load_recipe(recipe)), client, cache=None)

    return anyio.run(price)


def _fingerprint(emu: EmulatorHandle, user: str) -> str:
    return account_fingerprint(emu.base_url, user)


def _run(
    priced: PricedPlan,
    emus: list[EmulatorHandle],
    events: list[Event] | None = None,
    **options: object,
) -> object:
    async def go() -> object:
        clients = [LeonardoClient(e.api_key, e.base_url) for e in emus]
        try:
            with Journal.open(priced.plan.output_dir) as journal:
                return await run_plan(
                    priced,
                    clients,
                    journal,
                    options=RunOptions(time_scale=TIME_SCALE, **options),  # type: ignore[arg-type]
                    on_event=discard if events is None else events.append,
                )
        finally:
            for client in clients:
                await client.aclose()

    return anyio.run(go)


def test_keys_file_lines_comments_roots_and_mistakes(tmp_path: Path) -> None:
    """A key per line, an optional API root, comments; a bad line is located, never quoted."""
    good = tmp_path / "keys"
    good.write_text(f"# team keys\n{KEY_A}  http://127.0.0.1:9/api/rest/v1\n\n{KEY_B} # two\n")
    specs = keys_from(good, env={})
    assert [(s.key, s.base_url, s.where) for s in specs] == [
        (KEY_A, "http://127.0.0.1:9/api/rest/v1", f"{good}:2"),
        (KEY_B, None, f"{good}:4"),
    ]
    assert KEY_A not in repr(specs[0])
    assert [s.key for s in keys_from(None, env={"LEONARDO_API_KEYS": f"{KEY_A}, {KEY_B},"})] == [
        KEY_A,
        KEY_B,
    ]
    assert keys_from(None, env={"LEONARDO_API_KEY": KEY_A}) == []
    twice = tmp_path / "twice"
    twice.write_text(f"{KEY_A}\n{KEY_A}\n")
    with pytest.raises(AuthError, match=r"twice:2: the same key as .*twice:1") as raised:
        keys_from(twice, env={})
    assert KEY_A not in str(raised.value)
    plain = tmp_path / "plain"
    plain.write_text(f"{KEY_A} http://api.example.com/v1\n")
    with pytest.raises(Exception, match=r"plain:1: refusing plain http"):
        keys_from(plain, env={})
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    with pytest.raises(AuthError, match="holds no key"):
        keys_from(empty, env={})
    with pytest.raises(AuthError, match="cannot read the keys file"):
        keys_from(tmp_path / "missing", env={})


def test_assignment_keeps_pipelines_whole_weights_slots_and_sticks(tmp_path: Path) -> None:
    """Pipelines go whole to the account with least work per slot; a pipeline with a job sent
    stays on its account; one on an account no key reaches is stranded, unless finished."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    plan = expand_plan(load_recipe(recipe))
    big, small = AccountSlot("a" * 32, "big", 8), AccountSlot("b" * 32, "small", 4)
    first = assign_jobs(plan.jobs, [big, small], {})
    assert first.jobs["a" * 32] | first.jobs["b" * 32] == {j.key for j in plan.jobs}
    assert not first.jobs["a" * 32] & first.jobs["b" * 32]
    assert (len(first.jobs["a" * 32]), len(first.jobs["b" * 32])) == (16, 8)  # 2:1 as the slots
    for job in plan.jobs:
        if job.upstream is not None:
            assert first.account_of(job.key) == first.account_of(job.upstream.key)
    assert assign_jobs(plan.jobs, [big, small], {}) == first  # deterministic

    roots = [j for j in plan.jobs if j.upstream is None]
    child = next(j for j in plan.jobs if j.upstream is not None and j.upstream.key == roots[0].key)
    on_small = {roots[0].key: ("complete", "b" * 32), child.key: ("planned", None)}
    again = assign_jobs(plan.jobs, [big, small], on_small)
    assert again.account_of(child.key) == "b" * 32  # made from small's output: stays there
    gone = assign_jobs(plan.jobs, [big], on_small)
    assert gone.stranded == {"b" * 32: (child.key,)}
    finished = {roots[0].key: ("complete", "b" * 32), child.key: ("complete", "b" * 32)}
    assert assign_jobs(plan.jobs, [big], finished).stranded == {}
    legacy = assign_jobs(plan.jobs, [big], {roots[0].key: ("submitted", None)}, legacy="a" * 32)
    assert legacy.account_of(child.key) == "a" * 32


def test_a_run_over_two_accounts_renders_each_job_once_within_each_accounts_slots(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Both accounts work; each job is created on one emulator only; peaks <= 4 each; the
    journal names each job's account, and a cutout is made on its image's account."""
    a, b = _two(make_emulator)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, a)
    result = _run(priced, [a, b])
    assert (result.complete, result.failed, result.pending) == (24, 0, 0)  # type: ignore[attr-defined]
    stats = [e.stats() for e in (a, b)]
    for s in stats:
        assert s["duplicate_creates"] == 0
        assert 0 < s["peak_running"] <= 4
    assert not set(stats[0]["creates_per_body"]) & set(stats[1]["creates_per_body"])
    charged = sum(s["credits_charged"] - s["credits_refunded"] for s in stats)
    assert charged == priced.total == result.credits_charged  # type: ignore[attr-defined]
    fingerprints = {_fingerprint(a, USER_A): a, _fingerprint(b, USER_B): b}
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        states = {s.key: s for s in journal.jobs()}
    assert {s.account for s in states.values()} == set(fingerprints)
    for job in priced.plan.jobs:
        state = states[job.key]
        if job.upstream is not None:
            assert state.account == states[job.upstream.key].account
    shown = subprocess.run(
        [sys.executable, "-m", "leobatch", "status", str(recipe), "--json"],
        capture_output=True,
        timeout=60,
    )
    import json

    rows = json.loads(shown.stdout)["accounts"]
    assert {r["account"] for r in rows} == set(fingerprints)
    assert sum(r["jobs"] for r in rows) == sum(r["done"] for r in rows) == 24
    assert sum(r["credits_charged"] for r in rows) == charged


def test_a_pipeline_left_on_an_account_whose_key_is_missing_is_refused_then_resumed_there(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Images rendered on both accounts, cutouts not yet: a run with one key refuses (its
    cutouts need the other account's images) and sends nothing; both keys finish it."""
    a, b = _two(make_emulator)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, a)
    roots = frozenset(j.key for j in priced.plan.jobs if j.upstream is None)
    first = _run(priced, [a, b], select=roots)
    assert first.complete == 12  # type: ignore[attr-defined]
    creates = a.stats()["creates"]
    with pytest.raises(AccountsError, match=r"were sent on an account no key of this run"):
        _run(priced, [a])
    assert a.stats()["creates"] == creates
    final = _run(priced, [a, b])
    assert (final.complete, final.failed) == (24, 0)  # type: ignore[attr-defined]
    for emu in (a, b):
        assert emu.stats()["duplicate_creates"] == 0


def test_two_keys_of_one_account_are_refused(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Two keys that reach the same account would count its slots and balance twice."""
    emu = make_emulator(time_scale=TIME_SCALE)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, emu)
    twin = EmulatorHandle(emu.base_url, KEY_B, emu.state, emu.server)
    with pytest.raises(AuthError, match="reach the same account"):
        _run(priced, [emu, twin])
    assert emu.stats()["creates"] == 0


def _leobatch(recipe: Path, keys: Path, *args: str, stdout: int = subprocess.DEVNULL) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEONARDO_")}
    return subprocess.Popen(
        [sys.executable, "-m", "leobatch", *args, str(recipe), "--keys", str(keys)],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_then_resume_over_two_accounts_sends_nothing_twice(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Runs over two accounts killed with SIGKILL at random moments, then one to the end: each
    job on one account, 0 duplicates on either, peaks <= 4, charged == plan, files verified."""
    a, b = _two(make_emulator)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY_A} {a.base_url}\n{KEY_B} {b.base_url}\n")
    priced = _priced(recipe, a)
    shown = _leobatch(recipe, keys, "plan", stdout=subprocess.PIPE)
    out, err = shown.communicate(timeout=60)
    assert shown.returncode == 0, err.decode()
    assert "accounts: 2" in out.decode() and "4 slots" in out.decode()
    rng = random.Random(20261201)
    kills = 0
    run = ("run", "--yes", "--json", "--time-scale", str(TIME_SCALE))
    for _ in range(8):
        proc = _leobatch(recipe, keys, *run, stdout=subprocess.PIPE)
        kills += kill_after_events(proc, rng.randint(2, 14), rng)
    assert kills >= 6, f"only {kills} runs were still going when killed"
    final = _leobatch(recipe, keys, *run)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    stats = [e.stats() for e in (a, b)]
    for s in stats:
        assert s["duplicate_creates"] == 0, s["creates_per_body"]
        assert 0 < s["peak_running"] <= 4
    assert not set(stats[0]["creates_per_body"]) & set(stats[1]["creates_per_body"])
    charged = sum(s["credits_charged"] - s["credits_refunded"] for s in stats)
    assert charged == priced.total
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        for job in priced.plan.jobs:
            assert journal.job(job.key).status == "complete"
            for out in journal.outputs(job.key):
                data = (priced.plan.output_dir / out.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == out.sha256


def test_clean_with_one_key_deletes_its_accounts_generations_and_keeps_the_others(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """After a run over two accounts, `clean --remote` with account A's key deletes A's
    generations only: B's stay on B (listed there) and are reported as kept, not as deleted."""
    a, b = _two(make_emulator)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, a)
    assert _run(priced, [a, b]).complete == 24  # type: ignore[attr-defined]
    heroes_on_a = sum(1 for k in a.stats()["creates_per_body"] if "account test" in k)
    assert 0 < heroes_on_a < 12
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEONARDO_")}
    env |= {"LEONARDO_API_KEY": KEY_A, "LEONARDO_API_BASE_URL": a.base_url}
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "clean", str(recipe), "--remote", "--yes"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    stats_a, stats_b = a.stats(), b.stats()
    assert (stats_a["deletes"], stats_a["deleted_twice"]) == (heroes_on_a, 0)
    assert stats_a["deletes_unknown"] == 0  # none of B's ids was sent to A
    assert stats_b["deletes"] == 0
    assert "sent on another account" in done.stdout.decode()


def test_emulator_with_two_keys_renders_on_two_embedded_accounts(tmp_path: Path) -> None:
    """`--emulator` with LEONARDO_API_KEYS: an embedded emulator per key; both work, the plan
    event lists both accounts and no key is printed."""
    import json

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]", "[1, 2, 3, 4]"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEONARDO_")}
    env["LEONARDO_API_KEYS"] = f"{KEY_A},{KEY_B}"
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--emulator", "--yes", "--json"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    events = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [len(e["accounts"]) for e in events if e["event"] == "plan"] == [2]
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 2 and sum(e["jobs"] for e in starts) == 8
    (finish,) = [e for e in events if e["event"] == "finish"]
    assert (finish["complete"], finish["failed"]) == (8, 0)
    everything = done.stdout.decode() + done.stderr.decode()
    assert KEY_A not in everything and KEY_B not in everything


def test_balance_with_a_keys_file_shows_each_account(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """`balance --keys FILE --json`: every account's own balance and slots, no key."""
    import json

    a = make_emulator(slots=4, api_key=KEY_A, user_id=USER_A, credits=500)
    b = make_emulator(slots=6, api_key=KEY_B, user_id=USER_B, credits=700)
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY_A} {a.base_url}\n{KEY_B} {b.base_url}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEONARDO_")}
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "balance", "--keys", str(keys), "--json"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    rows = json.loads(done.stdout)["accounts"]
    assert [(r["user_id"], r["credits"], r["slots"]) for r in rows] == [
        (USER_A, 500, 4),
        (USER_B, 700, 6),
    ]
    assert KEY_A not in done.stdout.decode() and KEY_B not in done.stdout.decode()


def test_the_budget_is_the_runs_over_both_accounts(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """A budget of half the plan: both accounts together stop within it (each alone would
    have had room for the whole of its half)."""
    a, b = _two(make_emulator)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, a)
    budget = priced.total // 2
    result = _run(priced, [a, b], budget_credits=budget)
    charged = sum(e.stats()["credits_charged"] - e.stats()["credits_refunded"] for e in (a, b))
    assert 0 < charged <= budget
    assert charged == result.credits_charged  # type: ignore[attr-defined]
    assert "budget" in (result.stop_reason or "")  # type: ignore[attr-defined]
    assert a.stats()["creates"] > 0 and b.stats()["creates"] > 0


def test_one_webhook_listener_serves_both_accounts(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """--webhook-listen over two accounts: one listener (not one per engine, which could not
    share the port), and callbacks from both accounts bring their jobs' checks forward."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = {"webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_key": "s3cret"}
    a = make_emulator(time_scale=TIME_SCALE, slots=4, api_key=KEY_A, user_id=USER_A, **hook)
    b = make_emulator(time_scale=TIME_SCALE, slots=4, api_key=KEY_B, user_id=USER_B, **hook)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.split("  clean:")[0])
    priced = _priced(recipe, a)
    events: list[Event] = []
    result = _run(priced, [a, b], events, webhook_listen=("127.0.0.1", port), webhook_key="s3cret")
    assert (result.complete, result.failed) == (12, 0)  # type: ignore[attr-defined]
    assert sum(e.type == "webhooks" for e in events) == 1
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        account = {s.key: s.account for s in journal.jobs()}
    called = {account[e.job] for e in events if e.type == "callback" and e.job}
    assert called == {_fingerprint(a, USER_A), _fingerprint(b, USER_B)}


def test_one_account_commands_say_so_when_only_several_keys_are_set(tmp_path: Path) -> None:
    """`history` with LEONARDO_API_KEYS and no LEONARDO_API_KEY: exit 1 and what to do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEONARDO_")}
    env["LEONARDO_API_KEYS"] = f"{KEY_A},{KEY_B}"
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "history"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "one account at a time" in err and "Traceback" not in err
    assert KEY_A not in err
