"""Sustained status-request throughput of the emulator with 100 concurrent pollers.

The emulator runs as its own process (``leobatch emulator``), exactly as users run it, so the
client's work does not share its interpreter. 200 generations are created, then 100 pollers,
each on its own keep-alive connection, read ``GET /generations/{id}`` in a loop for
``--seconds``; the script prints requests per second and latency percentiles. Target: >= 1000
status requests per second.

The pollers speak minimal HTTP/1.1 over anyio streams rather than through httpx: httpx costs
about 1-3 ms of client CPU per request, which would measure the client, not the emulator.
Every response is still read whole and its JSON decoded and checked.

    .venv/bin/python benchmarks/emulator_load.py [--seconds 10] [--pollers 100]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import time

import anyio
import anyio.abc
import httpx

API_KEY = "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {API_KEY}"})
            return
        except httpx.ConnectError:
            time.sleep(0.05)
    raise SystemExit("the emulator did not start")


async def _get(
    stream: anyio.abc.ByteStream, buffer: bytearray, request: bytes
) -> tuple[int, bytes]:
    """One keep-alive GET: send the request, read the head and exactly Content-Length bytes."""
    await stream.send(request)
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        buffer += await stream.receive()
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    length = next(int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length"))
    while len(buffer) < end + 4 + length:
        buffer += await stream.receive()
    body = bytes(buffer[end + 4 : end + 4 + length])
    del buffer[: end + 4 + length]
    return int(head[0].split()[1]), body


async def _load(base: str, seconds: float, pollers: int, jobs: int) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        ids = []
        for i in range(jobs):
            created = await http.post("/generations", json={"prompt": f"job {i}", "num_images": 1})
            ids.append(created.json()["sdGenerationJob"]["generationId"])
    url = httpx.URL(base)
    requests = [
        (f"GET {url.path}/generations/{gen_id} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
         f"Authorization: Bearer {API_KEY}\r\nAccept: application/json\r\n\r\n").encode()
        for gen_id in ids
    ]  # fmt: skip
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def poller(n: int) -> None:
        nonlocal errors
        i, buffer = n, bytearray()
        async with await anyio.connect_tcp(url.host, url.port or 80) as stream:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                status, body = await _get(stream, buffer, requests[i % len(requests)])
                if (
                    status == 200
                    and json.loads(body)["generations_by_pk"]["id"] == ids[i % len(ids)]
                ):
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                i += pollers

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for n in range(pollers):
            tg.start_soon(poller, n)
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    print(f"pollers: {pollers}, jobs: {jobs}, duration: {elapsed:.1f} s")
    print(f"status requests: {len(latencies)} ok, {errors} not ok")
    print(f"sustained: {len(latencies) / elapsed:.0f} status requests/s")
    print(f"latency: p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms")


def main() -> None:
    """Start an emulator process, load it, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    port = _free_port()
    argv = [sys.executable, "-m", "leobatch", "emulator", "--port", str(port),
            "--time-scale", "0.01", "--requests-per-minute", "100000000"]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL) as server:
        try:
            base = f"http://127.0.0.1:{port}/api/rest/v1"
            _wait_up(base)
            anyio.run(_load, base, args.seconds, args.pollers, args.jobs)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
