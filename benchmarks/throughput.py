"""Throughput: leobatch against the official SDK, on the emulator, side by side in one run.

Each contestant renders the same N single-image jobs (and downloads every image) against a fresh
emulator subprocess with the same slots and time scale:

- leobatch: `run_plan` (batched polling, slots + headroom, token buckets), on the event loop the
  CLI runs it on (`leobatch._loop`: uvloop where installed);
- sdk-sequential: the official SDK, create then poll every (scaled) second, one job at a time;
- sdk-semaphore: the official SDK's async API, a semaphore of `slots`, (scaled) 1 s polling.

Then leobatch alone on a 3-stage pipeline (image -> nobg -> universal upscale): the time from the
first upstream completion to the first final output on disk, in job durations; and leobatch on
two equal accounts against one (one emulator subprocess per account): the makespan ratio.

Printed for each: makespan / ideal makespan (the emulator's slot-busy seconds / slots), slot
utilisation from first start to last completion (emulator), status requests per job, client CPU
ms per job (this process only: the emulator runs in its own process), duplicate creates.

    python benchmarks/throughput.py [--jobs 240] [--slots 10] [--time-scale 0.05] [--repeat 3]
        [--pipeline-roots 60] [--pipeline-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from leobatch._loop import run as run_async

API_KEY = "5f0c6d3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
MODEL = "b24e16ff-06e3-43eb-8d33-4416c2d75876"  # Leonardo Lightning XL
STATUS_ROUTES = ("GET /generations/{id}", "GET /generations/user/{userId}", "GET /variations/{id}")


@dataclass(frozen=True)
class Figures:
    name: str
    jobs: int
    wall_s: float
    cpu: tuple[float, float]  # (user s, system s) of this process
    stats: dict[str, Any]

    def row(self) -> dict[str, Any]:
        st = self.stats
        slots = st["slots"]
        ideal_s = st["slot_busy_s"] / slots if slots else 0.0
        status = sum(n for route, n in st["requests"].items() if _is_status(route))
        return {
            "contestant": self.name,
            "jobs": self.jobs,
            "makespan_s": round(self.wall_s, 2),
            "makespan/ideal": round(self.wall_s / ideal_s, 3) if ideal_s else None,
            "utilisation": round(st["utilisation"], 3),
            "status_req/job": round(status / self.jobs, 3),
            "cpu_ms/job": round(1000 * sum(self.cpu) / self.jobs, 2),
            "user_ms/job": round(1000 * self.cpu[0] / self.jobs, 2),
            "sys_ms/job": round(1000 * self.cpu[1] / self.jobs, 2),
            "duplicates": st["duplicate_creates"],
        }


def _is_status(route: str) -> bool:
    return any(route.startswith(s.split(" {")[0]) for s in STATUS_ROUTES) and route.startswith(
        "GET"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator(slots: int, time_scale: float, user_id: str | None = None) -> Iterator[str]:
    """A fresh emulator subprocess; yields its origin (http://127.0.0.1:PORT)."""
    port = _free_port()
    user = ["--user-id", user_id] if user_id else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "leobatch", "emulator", "--port", str(port), "--slots", str(slots),
         "--time-scale", str(time_scale), "--credits", "100000000", *user],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{origin}/_emulator/stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield origin
    finally:
        proc.terminate()
        proc.wait(10)


def stats(origin: str) -> dict[str, Any]:
    return dict(httpx.get(f"{origin}/_emulator/stats", timeout=10).json())


def bodies(n: int) -> list[dict[str, Any]]:
    return [
        {"prompt": f"a ceramic mug, benchmark {i}", "modelId": MODEL, "width": 512,
         "height": 512, "num_images": 1, "alchemy": False, "seed": i}
        for i in range(n)
    ]  # fmt: skip


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _since(before: tuple[float, float]) -> tuple[float, float]:
    now = _cpu()
    return now[0] - before[0], now[1] - before[1]


def measure(name: str, n: int, origin: str, work: Callable[[], None]) -> Figures:
    wall0, cpu0 = time.perf_counter(), _cpu()
    work()
    return Figures(name, n, time.perf_counter() - wall0, _since(cpu0), stats(origin))


# ------------------------------------------------------------------------------ leobatch


def _image_recipe(folder: Path, n: int) -> Path:
    """A recipe of ``n`` single-image jobs (the jobs of every contestant), written in ``folder``."""
    recipe = folder / "bench.yaml"
    recipe.write_text(
        "version: 1\nname: bench\n"
        f"matrix:\n  seed: {json.dumps(list(range(n)))}\n"
        "stages:\n  mug:\n    kind: image\n    model: lightning-xl\n"
        "    prompt: 'a ceramic mug, benchmark {{ seed }}'\n"
        "    params: {width: 512, height: 512, num_images: 1, alchemy: false,"
        " seed: '{{ seed }}'}\n"
    )
    return recipe


def leobatch_contestant(n: int, slots: int, time_scale: float) -> Figures:
    from leobatch.api.client import LeonardoClient
    from leobatch.plan import expand_plan
    from leobatch.pricing.calculator import price_online
    from leobatch.recipe import load_recipe
    from leobatch.run.engine import RunOptions, run_plan
    from leobatch.run.journal import Journal

    with tempfile.TemporaryDirectory() as tmp, emulator(slots, time_scale) as origin:
        plan = expand_plan(load_recipe(_image_recipe(Path(tmp), n)))
        base = f"{origin}/api/rest/v1"

        async def go() -> None:
            async with LeonardoClient(API_KEY, base) as client:
                priced = await price_online(plan, client, cache=None)
                with Journal.open(plan.output_dir) as journal:
                    wall0, cpu0 = time.perf_counter(), _cpu()
                    await run_plan(
                        priced, client, journal, options=RunOptions(time_scale=time_scale)
                    )
                    timing["wall"] = time.perf_counter() - wall0
                    timing["cpu"] = _since(cpu0)

        timing: dict[str, Any] = {}
        run_async(go)
        return Figures("leobatch", n, timing["wall"], timing["cpu"], stats(origin))


def accounts_makespan(n: int, slots: int, time_scale: float, accounts: int) -> dict[str, Any]:
    """``n`` single-image jobs on ``accounts`` equal accounts (an emulator subprocess each, of
    ``slots`` slots): the makespan (run_plan's wall time), peaks and jobs per account."""
    import uuid

    from leobatch.api.client import LeonardoClient
    from leobatch.plan import expand_plan
    from leobatch.pricing.calculator import price_online
    from leobatch.recipe import load_recipe
    from leobatch.run.engine import RunOptions, run_plan
    from leobatch.run.journal import Journal

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        users = [str(uuid.uuid4()) for _ in range(accounts)]
        origins = [stack.enter_context(emulator(slots, time_scale, u)) for u in users]
        plan = expand_plan(load_recipe(_image_recipe(Path(tmp), n)))
        timing: dict[str, float] = {}

        async def go() -> None:
            clients = [LeonardoClient(API_KEY, f"{o}/api/rest/v1") for o in origins]
            try:
                priced = await price_online(plan, clients[0], cache=None)
                with Journal.open(plan.output_dir) as journal:
                    wall0, cpu0 = time.perf_counter(), _cpu()
                    target = clients if accounts > 1 else clients[0]
                    options = RunOptions(time_scale=time_scale)
                    await run_plan(priced, target, journal, options=options)
                    timing["wall"] = time.perf_counter() - wall0
                    timing["cpu"] = sum(_since(cpu0))
            finally:
                for client in clients:
                    await client.aclose()

        run_async(go)
        per = [stats(o) for o in origins]
    return {
        "accounts": accounts,
        "jobs": n,
        "makespan_s": round(timing["wall"], 3),
        "client_cpu_share": round(timing["cpu"] / timing["wall"], 2),
        "jobs_per_account": [s["creates"] for s in per],
        "peak_running": [s["peak_running"] for s in per],
        "utilisation": [round(s["utilisation"], 3) for s in per],
        "duplicates": sum(s["duplicate_creates"] for s in per),
    }


def pipeline_first_output(n: int, slots: int, time_scale: float) -> dict[str, Any]:
    """A 3-stage pipeline (image -> nobg -> universal upscale) of ``n`` roots: how long after
    the first upstream completion the first final output is on disk, in job durations (the
    median image job, submitted to complete)."""
    from leobatch.api.client import LeonardoClient
    from leobatch.plan import expand_plan
    from leobatch.pricing.calculator import price_online
    from leobatch.recipe import load_recipe
    from leobatch.run.engine import RunOptions, run_plan
    from leobatch.run.events import Event
    from leobatch.run.journal import Journal

    with tempfile.TemporaryDirectory() as tmp, emulator(slots, time_scale) as origin:
        recipe = Path(tmp) / "pipeline.yaml"
        recipe.write_text(
            "version: 1\nname: pipeline\n"
            f"matrix:\n  seed: {json.dumps(list(range(n)))}\n"
            "stages:\n  shot:\n    kind: image\n    model: lightning-xl\n"
            "    prompt: 'a ceramic mug, pipeline {{ seed }}'\n"
            "    params: {width: 512, height: 512, num_images: 1, alchemy: false,"
            " seed: '{{ seed }}'}\n"
            "  cutout:\n    kind: nobg\n    from: shot\n"
            "  large:\n    kind: universal-upscale\n    from: cutout\n"
            "    params: {upscaleMultiplier: 1.5}\n"
        )
        plan = expand_plan(load_recipe(recipe))
        base = f"{origin}/api/rest/v1"
        seen: list[tuple[float, Event]] = []

        async def go() -> None:
            async with LeonardoClient(API_KEY, base) as client:
                priced = await price_online(plan, client, cache=None)
                with Journal.open(plan.output_dir) as journal:
                    await run_plan(
                        priced,
                        client,
                        journal,
                        options=RunOptions(time_scale=time_scale),
                        on_event=lambda e: seen.append((time.perf_counter(), e)),
                    )

        run_async(go)
    submitted = {e.job: t for t, e in seen if e.type == "submitted"}
    shots = sorted(
        t - submitted[e.job] for t, e in seen if e.type == "complete" and e.stage == "shot"
    )
    first_up = min(t for t, e in seen if e.type == "complete" and e.stage == "shot")
    first_final = min(t for t, e in seen if e.type == "downloaded" and e.stage == "large")
    duration = shots[len(shots) // 2]
    # For reading the figure: the emulator's own mean image job (no queue, no polling), and
    # what the two downstream jobs take on average in those units (+-30% each).
    from leobatch.emulator.config import DURATIONS_S

    server_image_s = DURATIONS_S["image"] * time_scale
    downstream = DURATIONS_S["variation"] + DURATIONS_S["universal-upscale"]
    return {
        "pipeline_roots": n,
        "job_duration_s": round(duration, 3),
        "first_final_after_first_upstream_s": round(first_final - first_up, 3),
        "in_job_durations": round((first_final - first_up) / duration, 2),
        "in_emulator_image_jobs": round((first_final - first_up) / server_image_s, 2),
        "downstream_mean_in_emulator_image_jobs": round(downstream / DURATIONS_S["image"], 2),
    }


# ------------------------------------------------------------------------------ the SDK
# The baselines download each image too (a user of the SDK wants the files), retrying a dropped
# keep-alive connection as any careful client would; they do not verify what they fetch.


def _fetch(http: httpx.Client, url: str) -> bytes:
    for attempt in range(3):
        try:
            response = http.get(url)
            response.raise_for_status()
            return response.content
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _afetch(http: httpx.AsyncClient, url: str) -> bytes:
    for attempt in range(3):
        try:
            response = await http.get(url)
            response.raise_for_status()
            return response.content
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def sdk_sequential(n: int, slots: int, time_scale: float) -> Figures:
    from leonardo_ai_sdk import LeonardoAiSDK

    with emulator(slots, time_scale) as origin:
        sdk = LeonardoAiSDK(bearer_auth=API_KEY, server_url=f"{origin}/api/rest/v1")
        http = httpx.Client()

        def work() -> None:
            for body in bodies(n):
                created = sdk.image.create_generation(request=body)  # type: ignore[arg-type]
                gen_id = created.object.sd_generation_job.generation_id  # type: ignore[union-attr]
                while True:
                    time.sleep(1.0 * time_scale)
                    got = sdk.image.get_generation_by_id(id=gen_id)  # type: ignore[arg-type]
                    gen = got.object.generations_by_pk  # type: ignore[union-attr]
                    if gen is not None and str(gen.status) not in ("PENDING", "JobStatus.PENDING"):
                        break
                for image in gen.generated_images or []:
                    _fetch(http, image.url)

        return measure("sdk-sequential", n, origin, work)


def sdk_semaphore(n: int, slots: int, time_scale: float) -> Figures:
    from leonardo_ai_sdk import LeonardoAiSDK

    with emulator(slots, time_scale) as origin:
        sdk = LeonardoAiSDK(bearer_auth=API_KEY, server_url=f"{origin}/api/rest/v1")

        async def one(
            body: dict[str, Any], sem: asyncio.Semaphore, http: httpx.AsyncClient
        ) -> None:
            async with sem:
                created = await sdk.image.create_generation_async(request=body)  # type: ignore[arg-type]
                gen_id = created.object.sd_generation_job.generation_id  # type: ignore[union-attr]
                while True:
                    await asyncio.sleep(1.0 * time_scale)
                    got = await sdk.image.get_generation_by_id_async(id=gen_id)  # type: ignore[arg-type]
                    gen = got.object.generations_by_pk  # type: ignore[union-attr]
                    if gen is not None and str(gen.status) not in ("PENDING", "JobStatus.PENDING"):
                        break
                for image in gen.generated_images or []:
                    await _afetch(http, image.url)

        async def all_jobs() -> None:
            sem = asyncio.Semaphore(slots)
            async with httpx.AsyncClient() as http:
                await asyncio.gather(*(one(b, sem, http) for b in bodies(n)))

        return measure("sdk-semaphore", n, origin, lambda: asyncio.run(all_jobs()))


def _calibrate_ms() -> float:
    """CPU ms for a fixed pure-Python loop: how fast this machine is right now (shared VMs
    vary by 25% from minute to minute), to read the CPU figures against."""
    start = time.process_time()
    total = 0
    for i in range(2_000_000):
        total += i * i
    return 1000 * (time.process_time() - start)


def two_accounts(n: int, slots: int, time_scale: float) -> dict[str, Any]:
    """One account, then two equal ones, on the same jobs: the makespan ratio."""
    one = accounts_makespan(n, slots, time_scale, 1)
    two = accounts_makespan(n, slots, time_scale, 2)
    return {"one": one, "two": two, "ratio": round(two["makespan_s"] / one["makespan_s"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=240)
    parser.add_argument("--slots", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument(
        "--sequential-jobs",
        type=int,
        default=40,
        help="jobs for the sequential SDK loop (it is slow by design)",
    )
    parser.add_argument("--pipeline-roots", type=int, default=60,
                        help="root jobs of the 3-stage pipeline measurement")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per contestant; the table shows each one's median run "
                        "by CPU per job (shared machines are noisy)")  # fmt: skip
    parser.add_argument("--accounts-only", action="store_true",
                        help="only the makespan on two accounts against one")  # fmt: skip
    parser.add_argument("--pipeline-only", action="store_true",
                        help="only the pipeline time to the first final output")  # fmt: skip
    args = parser.parse_args()
    # The emulators' accounts are fake: their charges and journals go to a data dir of this
    # run's own, not into the user's account database (price book, journal registry).
    data_dir = tempfile.TemporaryDirectory(prefix="leobatch-bench-data-")
    os.environ["LEOBATCH_DATA_DIR"] = data_dir.name
    if args.pipeline_only:
        for _ in range(max(1, args.repeat)):
            figure = pipeline_first_output(args.pipeline_roots, args.slots, args.time_scale)
            print(json.dumps(figure), flush=True)
        return
    if args.accounts_only:
        print("makespan on two equal accounts against one (target: <= 0.55):")
        print(json.dumps(two_accounts(args.jobs, args.slots, args.time_scale)))
        return
    contestants: list[tuple[Callable[[int, int, float], Figures], int]] = [
        (leobatch_contestant, args.jobs),
        (sdk_semaphore, args.jobs),
        (sdk_sequential, args.sequential_jobs),
    ]
    print(f"machine speed: {_calibrate_ms():.0f} ms for a fixed pure-Python loop", flush=True)
    rows = []
    for contestant, n in contestants:
        runs = []
        for _ in range(max(1, args.repeat)):
            runs.append(contestant(n, args.slots, args.time_scale).row())
            print(json.dumps(runs[-1]), flush=True)
        runs.sort(key=lambda r: r["cpu_ms/job"])
        median = dict(runs[len(runs) // 2])
        median["cpu_ms/job range"] = f"{runs[0]['cpu_ms/job']}-{runs[-1]['cpu_ms/job']}"
        rows.append(median)
    print()
    print("time to the first final output of a 3-stage pipeline (target: within 2 job durations):")
    print(json.dumps(pipeline_first_output(args.pipeline_roots, args.slots, args.time_scale)))
    print()
    print("makespan on two equal accounts against one (target: <= 0.55):")
    print(json.dumps(two_accounts(args.jobs, args.slots, args.time_scale)))
    print()
    print(f"machine speed afterwards: {_calibrate_ms():.0f} ms for the same loop")
    print(f"slots={args.slots} time_scale={args.time_scale} repeat={args.repeat} (median runs)")
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


if __name__ == "__main__":
    main()
