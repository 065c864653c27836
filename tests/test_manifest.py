"""The manifest: DESIGN section 7's shape, derived from plan + journal, written atomically."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from leobatch._version import __version__
from leobatch.manifest import ManifestWriter, build_manifest, write_manifest
from leobatch.plan.jobs import Job, Plan, Upstream
from leobatch.run.journal import Journal

HERO_A, HERO_B, CLEAN = "b" * 64, "c" * 64, "a" * 64  # the downstream key sorts first


def make_plan(root: Path) -> Plan:
    """Two hero image jobs (A yields two images) and one nobg job on A's second image."""
    hero_a = Job(
        key=HERO_A,
        stage="hero",
        kind="image",
        endpoint="/generations",
        body={"prompt": "a mug", "num_images": 2},
        matrix={"seed": 11, "shot": {"name": "wide"}},
        prompt="a mug",
        model="phoenix-1.0",
        outputs=2,
        paths=("hero/a-0.png", "hero/a-1.png"),
    )
    hero_b = Job(
        key=HERO_B,
        stage="hero",
        kind="image",
        endpoint="/generations",
        body={"prompt": "a cup", "num_images": 1},
        matrix={"seed": 42},
        prompt="a cup",
        outputs=1,
        paths=("hero/b-0.png",),
    )
    clean = Job(
        key=CLEAN,
        stage="hero_clean",
        kind="nobg",
        endpoint="/variations/nobg",
        body={},
        upstream=Upstream(HERO_A, 1),
        outputs=1,
        paths=("hero_clean/a-1.png",),
    )
    return Plan(
        recipe_name="mugs",
        recipe_path=root / "mugs.yaml",
        recipe_sha256="f" * 64,
        inputs_sha256="e" * 64,
        output_dir=root / "out" / "mugs",
        stages=("hero", "hero_clean"),
        jobs=(hero_a, hero_b, clean),
    )


CREDITS: dict[str, int | None] = {HERO_A: 24, HERO_B: 12, CLEAN: None}


def run_some(journal: Journal) -> None:
    """Hero A completes with both images downloaded; hero B fails for good; clean waits."""
    journal.mark_submitting(
        HERO_A, {"prompt": "a mug", "num_images": 2, "modelId": "m-1"}, account="c" * 32
    )
    journal.mark_submitted(HERO_A, "gen-a", 24)
    journal.mark_complete(HERO_A)
    for idx in (0, 1):
        journal.record_output(
            HERO_A,
            idx,
            remote_id=f"img-{idx}",
            url=f"https://cdn.test/gen-a/{idx}.png",
            path=f"hero/a-{idx}.png",
            media_type="image/png",
            nsfw=idx == 1,
        )
    journal.record_download(HERO_A, 0, sha256="0" * 64, size=1000)
    journal.mark_submitting(HERO_B, {"prompt": "a cup", "num_images": 1})
    journal.mark_failed(HERO_B, "Unexpected variable foo", final=True)


def test_manifest_has_the_designed_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field of DESIGN section 7, in stage order then key order, paths relative."""
    monkeypatch.setenv("LEONARDO_API_KEY", "sk-secret-test-key")
    plan = make_plan(tmp_path)
    with Journal.open(plan.output_dir) as journal:
        journal.ensure_jobs(plan.jobs, CREDITS)
        run_some(journal)
        manifest = build_manifest(plan, journal, credits=CREDITS)
    assert manifest["leobatch"] == __version__
    assert manifest["recipe"] == {"name": "mugs", "path": "../../mugs.yaml", "sha256": "f" * 64}
    assert manifest["totals"] == {
        "jobs": 3,
        "complete": 1,
        "failed": 1,
        "pending": 1,
        "credits_estimated": 36,
        "credits_charged": 24,
        "cost": {
            "CREDITS": {"estimated": 36, "charged": 24},
            "DOLLARS": {"estimated": "0", "charged": "0"},
            "unknown_estimates": 1,
        },
    }
    assert [j["key"] for j in manifest["jobs"]] == [HERO_A, HERO_B, CLEAN]
    a, b, clean = manifest["jobs"]
    assert a == {
        "key": HERO_A,
        "stage": "hero",
        "kind": "image",
        "matrix": {"seed": 11, "shot": {"name": "wide"}},
        "prompt": "a mug",
        "request": {"prompt": "a mug", "num_images": 2, "modelId": "m-1"},
        "status": "complete",
        "remote_id": "gen-a",
        "account": "c" * 32,
        "credits_estimated": 24,
        "credits_charged": 24,
        "usd_estimated": None,
        "usd_charged": None,
        "attempts": 1,
        "error": None,
        "upstream": None,
        "outputs": [
            {
                "index": 0,
                "remote_id": "img-0",
                "url": "https://cdn.test/gen-a/0.png",
                "path": "hero/a-0.png",
                "sha256": "0" * 64,
                "served_sha256": "0" * 64,
                "bytes": 1000,
                "media_type": "image/png",
                "nsfw": False,
            },
            {
                "index": 1,
                "remote_id": "img-1",
                "url": "https://cdn.test/gen-a/1.png",
                "path": "hero/a-1.png",
                "sha256": None,
                "served_sha256": None,
                "bytes": None,
                "media_type": "image/png",
                "nsfw": True,
            },
        ],
    }
    assert (b["status"], b["error"], b["credits_charged"], b["outputs"]) == (
        "failed",
        "Unexpected variable foo",
        None,
        [],
    )
    assert (clean["status"], clean["request"], clean["attempts"], clean["credits_estimated"]) == (
        "planned",
        {},
        0,
        None,
    )
    assert clean["upstream"] == {"key": HERO_A, "output": 1}
    path = plan.output_dir / "manifest.json"
    write_manifest(path, manifest)
    assert json.loads(path.read_text()) == manifest
    assert "sk-secret-test-key" not in path.read_text()


def test_jobs_not_yet_journaled_are_planned(tmp_path: Path) -> None:
    """Before a run journals anything, every job is planned with its planned body."""
    plan = make_plan(tmp_path)
    with Journal.open(plan.output_dir) as journal:
        manifest = build_manifest(plan, journal, credits=CREDITS)
    assert [j["status"] for j in manifest["jobs"]] == ["planned"] * 3
    assert manifest["jobs"][0]["request"] == {"prompt": "a mug", "num_images": 2}
    assert manifest["totals"]["pending"] == 3


def test_paths_are_relative_to_another_base(tmp_path: Path) -> None:
    """With the manifest elsewhere, output and recipe paths are relative to its directory."""
    plan = make_plan(tmp_path)
    with Journal.open(plan.output_dir) as journal:
        journal.ensure_jobs(plan.jobs, CREDITS)
        run_some(journal)
        manifest = build_manifest(plan, journal, credits=CREDITS, base=tmp_path)
    assert manifest["recipe"]["path"] == "mugs.yaml"
    assert manifest["jobs"][0]["outputs"][1]["path"] == "out/mugs/hero/a-1.png"


def test_incremental_writer_matches_a_full_build(tmp_path: Path) -> None:
    """The writer re-serialises only changed jobs, and its file equals a full rebuild."""
    plan = make_plan(tmp_path)
    writer = ManifestWriter(plan, credits=CREDITS)
    with Journal.open(plan.output_dir) as journal:
        journal.ensure_jobs(plan.jobs, CREDITS)
        writer.write(journal)
        assert json.loads(writer.path.read_text()) == build_manifest(plan, journal, credits=CREDITS)
        assert writer.refresh(journal) == 0
        run_some(journal)
        assert writer.refresh(journal) == 2
        journal.record_download(HERO_A, 1, sha256="1" * 64, size=2000)
        journal.mark_submitting(CLEAN, {"id": "img-1", "isVariation": False})
        writer.write(journal)
        assert writer.refresh(journal) == 0
        on_disk = json.loads(writer.path.read_text())
        assert on_disk == build_manifest(plan, journal, credits=CREDITS)
    assert on_disk["jobs"][0]["outputs"][1]["sha256"] == "1" * 64
    assert on_disk["jobs"][2]["status"] == "submitting"
    assert on_disk["totals"]["pending"] == 1


def test_failed_write_leaves_the_previous_manifest_whole(tmp_path: Path) -> None:
    """A manifest that cannot be written leaves the old one intact and no temporary file."""
    path = tmp_path / "manifest.json"
    write_manifest(path, {"leobatch": "old", "jobs": []})
    circular: dict[str, Any] = {"leobatch": "new"}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference"):
        write_manifest(path, circular)
    assert json.loads(path.read_text()) == {"leobatch": "old", "jobs": []}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_ten_thousand_jobs_build_and_write_fast(tmp_path: Path) -> None:
    """A 10,000-job manifest with outputs builds and writes well within the once-a-second budget."""
    template = make_plan(tmp_path).jobs[0]
    jobs = tuple(
        Job(
            key=f"{n:064x}",
            stage="hero",
            kind="image",
            endpoint="/generations",
            body={"prompt": f"mug {n}", "seed": n, "width": 1024, "height": 768},
            matrix={"seed": n, "model": "phoenix-1.0"},
            prompt=f"mug {n}",
            outputs=2,
            paths=(f"hero/{n}-0.png", f"hero/{n}-1.png"),
        )
        for n in range(10_000)
    )
    plan = Plan(**{**_fields(make_plan(tmp_path)), "jobs": jobs, "stages": ("hero",)})
    credits: dict[str, int | None] = {job.key: 24 for job in jobs}
    with Journal.open(plan.output_dir) as journal:
        journal.ensure_jobs(jobs, credits)
        for job in jobs[:5000]:
            journal.mark_submitting(job.key, dict(job.body))
            journal.mark_submitted(job.key, f"gen-{job.key[-6:]}", 24)
            journal.mark_complete(job.key)
            for idx, rel in enumerate(job.paths):
                journal.record_output(
                    job.key,
                    idx,
                    remote_id=f"i{idx}",
                    url=f"https://cdn/{rel}",
                    path=rel,
                    media_type="image/png",
                )
        start = time.perf_counter()
        manifest = build_manifest(plan, journal, credits=credits)
        built = time.perf_counter()
        write_manifest(plan.output_dir / "manifest.json", manifest)
        done = time.perf_counter()
        writer = ManifestWriter(plan, credits=credits)
        writer.write(journal)
        first = time.perf_counter()
        for job in jobs[5000:5100]:
            journal.mark_submitting(job.key, dict(job.body))
        again = time.perf_counter()
        writer.write(journal)
        incremental = time.perf_counter() - again
    print(
        f"manifest of 10,000 jobs (10,000 outputs): build {(built - start) * 1000:.0f} ms, "
        f"write {(done - built) * 1000:.0f} ms; ManifestWriter first write "
        f"{(first - done) * 1000:.0f} ms, rewrite after 100 changes {incremental * 1000:.0f} ms"
    )
    assert json.loads(writer.path.read_text())["totals"]["pending"] == 5000
    assert manifest["totals"]["complete"] == 5000
    assert manifest["totals"]["credits_charged"] == 5000 * 24
    assert template.key not in {j["key"] for j in manifest["jobs"]}
    assert done - start < 3.0  # generous: 2 shared cores; the figure printed is what matters


def _fields(plan: Plan) -> dict[str, Any]:
    """A plan's fields as keyword arguments."""
    return {name: getattr(plan, name) for name in Plan.__dataclass_fields__}


def test_a_big_manifest_is_rewritten_less_often_during_a_run(tmp_path: Path) -> None:
    """The writer knows the size it wrote; the run waits the configured interval between
    rewrites of a small manifest, and 4 s per MiB for a big one (a 10,000-job manifest, about
    7.8 MB, every 30 s or so, not every second)."""
    from leobatch.run.engine import manifest_wait

    plan = make_plan(tmp_path)
    writer = ManifestWriter(plan, credits=CREDITS)
    with Journal.open(plan.output_dir) as journal:
        journal.ensure_jobs(plan.jobs, CREDITS)
        assert writer.size == 0
        writer.write(journal)
    assert writer.size == len(writer.path.read_text(encoding="utf-8")) > 0
    assert manifest_wait(1.0, writer.size) == 1.0
    assert manifest_wait(0.25, 0) == 0.25
    assert manifest_wait(1.0, 200_000) == 1.0  # about 250 jobs
    assert manifest_wait(1.0, 7_759_441) == pytest.approx(29.6, abs=0.1)  # 10,000 jobs
    assert manifest_wait(1.0, 100 * 2**20) == 400.0
