"""The ``leobatch`` command line.

Subcommands live one per module in this package and are imported only when invoked, so that
``leobatch --help`` stays fast. Each module exposes ``command``, a ``click.Command``.
Only this package maps errors to exit codes: 0 ok, 1 error, 2 usage, 3 failed jobs, 130 Ctrl-C.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from leobatch._version import __version__

__all__ = ["main"]

#: name -> (module, one-line help shown by ``leobatch --help`` without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("leobatch.cli.validate", "Check a recipe and report every mistake at once."),
    "plan": ("leobatch.cli.plan", "Expand and price a recipe: the cost preview before a run."),
    "run": ("leobatch.cli.run", "Render a recipe or a saved plan, resuming where it stopped."),
    "status": ("leobatch.cli.status", "Summarise a recipe's run journal."),
    "prune": ("leobatch.cli.prune", "Remove what a recipe no longer yields: files, journal rows."),
    "report": ("leobatch.cli.report", "Build a static HTML report and contact sheets of a run."),
    "collect": ("leobatch.cli.collect", "Merge the manifests of shard outputs into one."),
    "schema": ("leobatch.cli.schema", "Print the recipe JSON Schema, or its path (--path)."),
    "catalog": (
        "leobatch.cli.catalog",
        "List models, styles, video styles, motion controls, elements.",
    ),
    "balance": ("leobatch.cli.balance", "Show the account's credits, slots and renewal date."),
    "history": ("leobatch.cli.history", "List the account's generations and what made them."),
    "clean": ("leobatch.cli.clean", "Delete what a recipe's runs made: account, files, or both."),
    "emulator": ("leobatch.cli.emulator", "Serve the offline Leonardo API emulator."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _) in COMMANDS.items() if _available(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _available(entry[0]):
            return None
        command = importlib.import_module(entry[0]).command
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="NO_COLOR=1 turns colour off. Shell completion: "
    'eval "$(_LEOBATCH_COMPLETE=bash_source leobatch)" (zsh_source, fish_source).',
)
@click.version_option(__version__, prog_name="leobatch")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print nothing but errors (and what --json asks for); the exit code tells the rest.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log every API request and its status to stderr (never the key).",
)
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """Render image and video asset sets with the Leonardo.ai API from YAML recipes.

    Validate and price a recipe before a credit is spent, then run it within the account's
    limits, journaled so that an interrupted run resumes without paying twice.
    """
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose contradict each other: give one")
    ctx.obj = {"quiet": quiet, "verbose": verbose}
    if verbose:
        import logging  # here, not at the top: `leobatch --help` stays fast

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger = logging.getLogger("leobatch.api")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: run the CLI and turn outcomes into exit codes."""
    from leobatch.cli._errors import run_main

    return run_main(cli, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
