"""The one place errors become exit codes and messages."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from leobatch.errors import LeobatchError, RecipeError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAILED_JOBS = 3
EXIT_INTERRUPTED = 130


def _unwrap(error: BaseException) -> BaseException:
    """The one error inside (nested) exception groups, as anyio task groups raise them."""
    while True:
        inner = getattr(error, "exceptions", None)
        if not isinstance(inner, tuple) or len(inner) != 1:
            return error
        error = inner[0]


def run_main(group: click.Group, argv: list[str] | None) -> NoReturn:
    """Invoke ``group`` and exit with the code its outcome maps to."""
    try:
        code = group.main(args=argv, standalone_mode=False)
    except BaseException as raised:  # sorted out below; anything unknown is re-raised
        error = _unwrap(raised)
        if isinstance(error, click.exceptions.Abort | KeyboardInterrupt):
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if isinstance(error, RecipeError):
            for problem in error.problems:
                click.echo(str(problem), err=True)
            n = len(error.problems)
            click.echo(f"{n} problem{'s' if n != 1 else ''} found.", err=True)
            sys.exit(EXIT_ERROR)
        if isinstance(error, LeobatchError):
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_ERROR)
        if isinstance(error, SystemExit):
            raise error from None
        raise
    sys.exit(code if isinstance(code, int) else EXIT_OK)
