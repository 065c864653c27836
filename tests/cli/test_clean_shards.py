"""``leobatch clean --dir MERGED``: a collected shard matrix is cleaned through each shard's
journal, exactly what the shards made and nothing twice."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.acct_support import direct_generation, listed_ids, pipeline_recipe, run
from tests.cli.support import leobatch, on_emulator
from tests.conftest import EmulatorHandle


def test_clean_of_a_merged_manifest_cleans_every_shard(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Two shard runs (two machines' checkouts), collected; `clean --dir` deletes the
    generations of both shards and their files, a stranger's generation survives, and a second
    clean deletes nothing."""
    shards = []
    made: set[str] = set()
    for i in (1, 2):
        recipe = pipeline_recipe(tmp_path / f"machine-{i}", "mugs", ("red", "navy", "olive"))
        manifest = run(emulator, recipe, "--shard", f"{i}/2")
        made |= {
            j["remote_id"] for j in manifest["jobs"] if j["stage"] == "render" and j["remote_id"]
        }
        shards.append(tmp_path / "shards" / f"shard-{i}")
        shutil.copytree(recipe.parent / "out" / "mugs", shards[-1])  # as CI artifacts arrive
    assert len(made) == 3  # every root job rendered once, in one shard or the other
    foreign = direct_generation(emulator, "made by hand")
    collected = leobatch("collect", *(str(s) for s in shards))
    assert collected.returncode == 0, collected.stderr
    before = listed_ids(emulator)
    assert made | {foreign} <= before
    recipe = tmp_path / "machine-1" / "mugs.yaml"
    files = [p for s in shards for p in (s / "render").rglob("*") if p.is_file()]
    assert files
    done = on_emulator(
        emulator, "clean", str(recipe), "--dir", str(tmp_path / "shards"), "--remote", "--local",
        "--yes",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for shard in shards:
        assert f"{shard.resolve()}:" in done.stdout
    assert listed_ids(emulator) == before - made
    assert foreign in listed_ids(emulator)
    assert not any(p.exists() for p in files)
    stats = emulator.stats()
    assert stats["deletes"] == 3 and stats["deleted_twice"] == 0
    again = on_emulator(
        emulator, "clean", str(recipe), "--dir", str(tmp_path / "shards" / "manifest.json"),
        "--remote", "--yes",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("Nothing to clean.") == 2
    assert emulator.stats()["deletes"] == 3
