"""The README's walk-through recipe is a real recipe that `leobatch plan` accepts (within its own
budget), and its command table lists every option of every command."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from leobatch.cli import COMMANDS, cli

README = Path(__file__).resolve().parents[1] / "README.md"


def _walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A recipe, walked through") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_walkthrough_recipe_plans(tmp_path: Path) -> None:
    """Copied as shown, with its CSV beside it, the real `plan` exits 0 (valid, within its
    budget) with the counts it implies (21 + 42 + 84 jobs)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "items.csv").write_text("prop\nspoon\ncup\n")
    (tmp_path / "recipe.yaml").write_text(_walkthrough())
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "plan", "recipe.yaml", "--offline", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    counts = {stage["name"]: stage["jobs"] for stage in data["stages"]}
    assert counts == {"hero": 21, "hero_clean": 42, "hero_4k": 84}
    assert data["credits"]["total"] <= data["budget"]


def test_the_readme_names_both_setup_commands() -> None:
    """The two set-up commands are there, as .ci/run and users rely on them."""
    text = README.read_text(encoding="utf-8")
    assert "leobatch run recipes/quickstart.yaml --emulator --yes" in text
    assert "python -m pytest -q" in text


def _table() -> dict[str, str]:
    """Command reference rows by command (``""``: the row of the global options), with the
    definition of ``SELECTION`` spliced in where a row uses it."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command reference") :]
    section = section[: section.index("\n### ")]
    selection = re.search(r"^`SELECTION` is (.*?)\n\n", section, re.S | re.M)
    assert selection is not None
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if match := re.match(r"\| `leobatch ([a-z]+|\[)", line):
            name = "" if match.group(1) == "[" else match.group(1)
            rows[name] = line.replace("[SELECTION]", selection.group(1))
    return rows


def _options(command: click.Command) -> list[click.Option]:
    return [
        p
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden and p.name not in ("help", "version")
    ]


def _missing(command: click.Command, row: str) -> list[str]:
    return [
        option.opts[0]
        for option in _options(command)
        if not any(re.search(re.escape(o) + r"(?![\w-])", row) for o in option.opts)
    ]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_command_table_lists_every_option(name: str) -> None:
    """Each command's row names each of its options (`--help` has the details)."""
    rows = _table()
    assert name in rows, f"no row for leobatch {name}"
    command = importlib.import_module(COMMANDS[name][0]).command
    assert _missing(command, rows[name]) == []


def test_the_command_table_lists_the_global_options() -> None:
    """`leobatch -q/-v COMMAND` has its row."""
    assert _missing(cli, _table().get("", "")) == []


def test_no_stale_references_in_help_or_readme() -> None:
    """No "section 5 lists" or "DESIGN section" left where users read (README, --help)."""
    texts = [README.read_text(encoding="utf-8")]
    for module, _ in COMMANDS.values():
        command = importlib.import_module(module).command
        with click.Context(command, info_name="leobatch") as ctx:
            texts.append(command.get_help(ctx))
    for text in texts:
        assert "section 5 lists" not in text
        assert "DESIGN section" not in text and "(DESIGN" not in text
