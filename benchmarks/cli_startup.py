"""Wall time of ``leobatch --help`` (lazy imports keep it short). Target: <= 0.3 s.

Run: ``python benchmarks/cli_startup.py [--runs 10]``. Each run is a fresh interpreter
(``python -m leobatch --help``), so the number includes Python's own start-up; the
interpreter alone (``python -c pass``) is printed beside it for reference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(args: list[str]) -> float:
    """Seconds one subprocess takes from spawn to exit."""
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Print min / median / max over the runs for the CLI and for a bare interpreter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "leobatch --help": [sys.executable, "-m", "leobatch", "--help"],
        "leobatch validate --help": [sys.executable, "-m", "leobatch", "validate", "--help"],
    }
    for args in cases.values():
        wall(args)  # warm the OS file cache
    print(f"{'command':<26} {'min s':>7} {'median s':>9} {'max s':>7}   ({runs} runs)")
    for name, args in cases.items():
        times = [wall(args) for _ in range(runs)]
        print(f"{name:<26} {min(times):>7.3f} {statistics.median(times):>9.3f} {max(times):>7.3f}")


if __name__ == "__main__":
    main()
