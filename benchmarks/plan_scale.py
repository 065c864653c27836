"""Plan time and peak memory for recipes of 1k, 10k and 100k jobs (offline, no network).

Run: ``python benchmarks/plan_scale.py`` (``--sizes 1000,10000`` to choose). Each size is a
generated recipe (a model x style x seed x subject matrix, a CSV axis, templates in prompt,
params and output path) planned by ``load_recipe`` + ``expand_plan`` (+ the offline rate card
when it is installed). Time is wall time of one run after a warm-up of the smallest size;
peak memory is tracemalloc's peak during that run. Target: 10,000 jobs in <= 2 s.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from leobatch import expand_plan, load_recipe

RECIPE = """\
version: 1
name: scale-{jobs}
vars:
  product: ceramic coffee mug
defaults:
  image: {{width: 1024, height: 768, num_images: 1, alchemy: true}}
matrix:
  model: [phoenix-1.0, lightning-xl]
  style: [CINEMATIC, STOCK_PHOTO, MOODY, FILM, PORTRAIT]
  seed: {seeds}
  item: {{file: items.csv}}
output:
  path: "{{{{ stage }}}}/{{{{ model }}}}/{{{{ style | lower }}}}/\\
    {{{{ item.sku }}}}-{{{{ seed }}}}-{{{{ index }}}}.{{{{ ext }}}}"
stages:
  hero:
    kind: image
    model: "{{{{ model }}}}"
    prompt: "{{{{ product }}}} with {{{{ item.prop }}}}, {{{{ style | lower }}}} light"
    negative_prompt: blurry, text
    params:
      presetStyle: "{{{{ style }}}}"
      seed: "{{{{ seed }}}}"
      contrast: 3.5
"""


def make_recipe(folder: Path, jobs: int) -> Path:
    """A recipe of exactly ``jobs`` jobs: 2 models x 5 styles x 10 items x jobs/100 seeds."""
    seeds = list(range(jobs // 100))
    rows = "\n".join(f"SKU{i},prop {i}" for i in range(10))
    (folder / "items.csv").write_text(f"sku,prop\n{rows}\n", encoding="utf-8")
    path = folder / f"scale-{jobs}.yaml"
    path.write_text(RECIPE.format(jobs=jobs, seeds=seeds), encoding="utf-8")
    return path


def plan_once(path: Path) -> tuple[int, float, int]:
    """(jobs, seconds, peak bytes) of one load + expand (+ offline price) of ``path``."""
    try:
        from leobatch.pricing.offline import price_offline
    except ImportError:  # the rate card is not there yet: time the plan alone
        price_offline = None
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    plan = expand_plan(load_recipe(path), max_jobs=1_000_000)
    if price_offline is not None:
        price_offline(plan)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(plan.jobs), elapsed, peak


def time_only(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one plan without tracemalloc (which slows Python code down).

    CPU time is the steadier number on a shared machine; wall time is what a user waits.
    """
    gc.collect()
    start = time.perf_counter()
    cpu = time.process_time()
    plan = expand_plan(load_recipe(path), max_jobs=1_000_000)
    try:
        from leobatch.pricing.offline import price_offline

        price_offline(plan)
    except ImportError:
        pass
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    """Print one line per size: jobs, plan seconds, peak MiB, bytes per job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        time_only(make_recipe(folder, 1000))  # warm-up: imports, catalogue, schema
        print(f"{'jobs':>8} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'KiB/job':>8}")
        for size in sizes:
            path = make_recipe(folder, size)
            seconds, cpu = time_only(path)
            jobs, _, peak = plan_once(path)
            print(
                f"{jobs:>8} {seconds:>8.2f} {cpu:>8.2f} {peak / 2**20:>9.1f} "
                f"{peak / jobs / 1024:>8.2f}"
            )


if __name__ == "__main__":
    main()
