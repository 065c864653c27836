"""``leobatch schema [--path]``: the installed recipe JSON Schema, for editors and CI."""

from __future__ import annotations

import click

__all__ = ["command"]


@click.command(name="schema")
@click.option("--path", "show_path", is_flag=True, help="Print the schema file's path instead.")
def command(show_path: bool) -> None:
    """Print the recipe JSON Schema (draft 2020-12) that this leobatch validates with.

    With --path, print where the installed file is, for an editor modeline:
    # yaml-language-server: $schema=<that path>
    """
    from leobatch.recipe.schema import schema_path

    path = schema_path()
    if show_path:
        click.echo(str(path))
    else:
        click.echo(path.read_text(encoding="utf-8"), nl=False)
