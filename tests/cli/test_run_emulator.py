"""`leobatch run --emulator`: the README's first command, and resuming it after a kill."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _run(recipe: Path, *extra: str, stdout: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--emulator", "--yes", *extra],
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def _manifest(recipe_dir: Path) -> dict[str, object]:
    data = json.loads((recipe_dir / "out" / "quickstart" / "manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def test_quickstart_renders_on_the_embedded_emulator(tmp_path: Path) -> None:
    """No key, no network: every output is rendered, verified and listed in the manifest."""
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    proc = _run(tmp_path / "recipes" / "quickstart.yaml")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"complete, 0 failed, 0 pending" in out
    manifest = _manifest(tmp_path / "recipes")
    totals = manifest["totals"]
    assert isinstance(totals, dict)
    assert totals["failed"] == 0 and totals["pending"] == 0
    assert totals["credits_charged"] == totals["credits_estimated"] > 0


@pytest.mark.slow
def test_a_killed_emulator_run_resumes_on_a_fresh_emulator(tmp_path: Path) -> None:
    """The embedded emulator dies with its run; the next run re-renders what it lost, no more."""
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    recipe = tmp_path / "recipes" / "quickstart.yaml"
    first = _run(recipe, "--json")
    assert first.stdout is not None
    completes = 0
    for line in first.stdout:
        if json.loads(line).get("event") == "complete":
            completes += 1
            if completes == 2:
                first.send_signal(signal.SIGKILL)
                break
    first.wait(30)
    first.stdout.close()
    assert first.stderr is not None
    first.stderr.close()
    second = _run(recipe)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, (out + err).decode()
    manifest = _manifest(tmp_path / "recipes")
    jobs = manifest["jobs"]
    assert isinstance(jobs, list)
    assert all(job["status"] == "complete" for job in jobs)
    for job in jobs:
        for output in job["outputs"]:
            assert (tmp_path / "recipes" / "out" / "quickstart" / output["path"]).is_file()


def test_a_second_run_on_the_same_output_dir_is_refused(tmp_path: Path) -> None:
    """While one run holds the directory, another exits 1 naming it, before pricing anything."""
    import time

    from leobatch.run.journal import Journal

    (tmp_path / "seeds.txt").write_text("\n".join(str(n) for n in range(300)) + "\n")
    recipe = tmp_path / "big.yaml"
    recipe.write_text(
        "version: 1\nname: big\nmatrix:\n  seed: {file: seeds.txt}\n"
        "stages:\n  hero:\n    kind: image\n    model: lightning-xl\n"
        "    prompt: 'mug {{ seed }}'\n    params: {num_images: 1, seed: '{{ seed | int }}'}\n"
    )
    first = _run(recipe, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while Journal.running(tmp_path / "out" / "big") is None:
            assert first.poll() is None and time.monotonic() < deadline, "first run never started"
            time.sleep(0.05)
        second = _run(recipe)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"another leobatch run (pid {first.pid} on " in err.decode()
        assert b"Plan for" not in out  # refused before pricing or asking
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert first.stderr is not None
        first.stderr.close()


def test_off_a_terminal_run_needs_yes(tmp_path: Path) -> None:
    """Without a terminal to confirm on, run is a usage error (exit 2) and spends nothing."""
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    result = subprocess.run(
        [sys.executable, "-m", "leobatch", "run", "recipes/quickstart.yaml", "--emulator"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "not on a terminal: add --yes" in result.stderr
    assert not (tmp_path / "recipes" / "out").exists()


def test_a_webhook_port_in_use_stops_the_run_before_any_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--webhook-listen on a taken port: exit 1 with the reason, no traceback, nothing rendered."""
    import socket

    monkeypatch.setenv("LEOBATCH_WEBHOOK_KEY", "hook-secret")  # (without it: a usage error)
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _run(
            tmp_path / "recipes" / "quickstart.yaml", "--webhook-listen", f"127.0.0.1:{port}"
        )
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"cannot receive webhooks on 127.0.0.1:{port}" in err.decode()
    assert b"Traceback" not in err
    assert b"complete" not in out
