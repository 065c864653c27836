"""The two promises under attack: SIGKILLs at random moments over a 3-stage pipeline with ghost
creates, 5xx, dropped connections and truncated downloads, then a resume.

Nothing lost, nothing paid twice, nothing paid for nothing, and every job with its own result.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import pytest

from leobatch.pricing.priced import PricedPlan
from leobatch.run.journal import Journal
from tests.conftest import EmulatorHandle
from tests.run.test_crash import _priced

TIME_SCALE = 0.05

# Siblings everywhere: image jobs that share a prompt and differ only in a field the listing
# shows (guidance_scale) or in one it does not (nothing: no seed is set), and upscales of one
# cut-out at two multipliers (a variation row carries no parameters at all).
RECIPE = """\
version: 1
name: campaign
matrix:
  colour: [red, navy, white]
  guidance: [5, 9]
stages:
  render:
    kind: image
    model: lightning-xl
    prompt: "a {{ colour }} running sneaker, side view"
    params: {width: 512, height: 512, num_images: 2, guidance_scale: "{{ guidance }}"}
  cutout:
    kind: nobg
    from: render
  large:
    kind: universal-upscale
    from: cutout
    matrix: {mult: [1.5, 2.0]}
    params: {upscaleMultiplier: "{{ mult }}", ultraUpscaleStyle: REALISTIC}
"""

FAULTS = {"ghost_rate": 0.1, "error_rate": 0.1, "drop_rate": 0.05, "truncate_rate": 0.1}


def _start_run(
    recipe: Path, emu: EmulatorHandle, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEONARDO_API_KEY": emu.api_key, "LEONARDO_API_BASE_URL": emu.base_url}
    return subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--yes", "--json",
         "--time-scale", str(TIME_SCALE)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )  # fmt: skip


def _kill_at_random_moments(recipe: Path, emu: EmulatorHandle, runs: int, seed: int) -> int:
    """Start ``runs`` runs, each SIGKILLed after a random number of progress events, or a
    random time after its first event when it goes quiet (a run waiting on a reconciliation
    prints nothing for a while, and without this would be left to finish everything). Returns
    how many were still going when killed."""
    rng = random.Random(seed)
    kills = 0
    ended: list[int] = []
    for _ in range(runs):
        proc = _start_run(recipe, emu)
        assert proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        wanted, seen = rng.randint(1, 8), 0
        quiet_s = rng.uniform(0.3, 2.0)
        first = lines.get(timeout=60)  # the run has started (imports done, plan event out)
        deadline = time.monotonic() + quiet_s
        while first and seen < wanted:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if not line:
                break  # the run ended by itself
            seen += 1
        time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
        if proc.returncode not in (0, -signal.SIGKILL):
            ended.append(proc.returncode)
        reader.join(10)
        proc.stdout.close()
    assert ended == [], f"runs ended by themselves with exit codes {ended}"
    return kills


def _read_lines(stream: IO[bytes], lines: queue.Queue[bytes]) -> None:
    """Every line of ``stream`` into ``lines``, then ``b""`` at its end."""
    for line in iter(stream.readline, b""):
        lines.put(line)
    lines.put(b"")


def _served(emu: EmulatorHandle, url: str) -> bytes:
    for _ in range(20):  # truncated downloads are a fault of the CDN: ask until whole
        try:
            response = httpx.get(url, timeout=10)
        except httpx.RemoteProtocolError:  # cut short (content-length says so)
            continue
        if response.status_code == 200:
            return response.content
    raise AssertionError(f"the emulator never served {url} whole")


def assert_promises_hold(priced: PricedPlan, emu: EmulatorHandle) -> None:
    """Every job complete with its own remote result and files; nothing paid for nothing."""
    state = emu.state
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        owners = Counter(s.remote_id for s in journal.jobs() if s.remote_id)
        assert [rid for rid, n in owners.items() if n > 1] == [], "two jobs hold one result"
        made = set(state.generations) | set(state.variations)
        # Every job the server made (and charged: no FAILED faults here) belongs to a job.
        assert sorted(made - set(owners)) == [], "paid results the journal does not own"
        for job in priced.plan.jobs:
            current = journal.job(job.key)
            assert current.status == "complete", (job.stage, current)
            rid = current.remote_id
            assert rid is not None
            request = current.request
            # Its own result: the server made this remote job from exactly this job's request.
            if rid in state.generations:
                assert state.generations[rid].body == request, job.stage
            else:
                assert state.variations[rid].body == request, job.stage
            outputs = journal.outputs(job.key)
            assert len(outputs) == job.outputs
            for out in outputs:
                data = (priced.plan.output_dir / out.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == out.sha256
                assert out.url is not None
                # The file carries its provenance; what the CDN served is recorded beside it.
                served = hashlib.sha256(_served(emu, out.url)).hexdigest()
                assert served == out.served_sha256, out.path
    stats = emu.stats()
    assert stats["duplicate_creates"] == 0, stats["creates_per_body"]
    assert stats["credits_charged"] - stats["credits_refunded"] == priced.total


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_sigkills_under_faults_then_resume_keep_both_promises(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """>= 16 SIGKILLs with ghost creates, 5xx, drops and truncated downloads, then a resume:
    0 duplicates, one job per result, no orphaned paid result, right files, charged == plan."""
    emu = make_emulator(time_scale=TIME_SCALE, slots=4, seed=seed, **FAULTS)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, emu)
    assert len(priced.plan.jobs) == 6 + 12 + 24

    kills = _kill_at_random_moments(recipe, emu, runs=24, seed=seed)
    assert kills >= 16, f"only {kills} runs were still going when killed"
    assert emu.stats()["faults"]["ghost"] > 0  # the attack happened

    final = _start_run(recipe, emu, stderr=subprocess.PIPE)  # the faults stay on
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, (err.decode(), out.decode()[-3000:])
    assert_promises_hold(priced, emu)
