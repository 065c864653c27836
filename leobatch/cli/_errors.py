"""The one place errors become exit codes and messages."""

from __future__ import annotations

import errno
import os
import sys
from typing import NoReturn

import click

from leobatch.errors import LeobatchError, RecipeError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAILED_JOBS = 3
EXIT_INTERRUPTED = 130


def _leaves(error: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups, as anyio task groups raise them."""
    inner = getattr(error, "exceptions", None)
    if not isinstance(inner, tuple):
        return [error]
    return [leaf for e in inner for leaf in _leaves(e)]


def _full_disk(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def unwrap(error: BaseException) -> BaseException:
    """The one error to report: the only one inside (nested) exception groups, or, when several
    tasks failed at once and every failure is an expected one, the first of them (one full disk
    fails every task that writes, all at the same moment). A group holding anything else is
    returned whole, to be re-raised: a bug keeps its traceback."""
    leaves = _leaves(error)
    if len(leaves) == 1:
        return leaves[0]
    if leaves and all(isinstance(e, LeobatchError) or _full_disk(e) for e in leaves):
        return next((e for e in leaves if isinstance(e, LeobatchError)), leaves[0])
    return error


def run_main(group: click.Group, argv: list[str] | None) -> NoReturn:
    """Invoke ``group`` and exit with the code its outcome maps to."""
    try:
        code = group.main(args=argv, standalone_mode=False)
    except BaseException as raised:  # sorted out below; anything unknown is re-raised
        error = unwrap(raised)
        if isinstance(error, BrokenPipeError):
            # `leobatch catalog | head -1`: the reader has what it wanted. No traceback, and
            # none from Python's flush at exit either (the recipe of Python's signal docs).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
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
        if isinstance(error, OSError) and _full_disk(error):
            # A file write with no translation of its own (a download, say): still no traceback.
            where = f" ({error.filename})" if error.filename else ""
            click.echo(
                f"error: {error.strerror}{where}. Free some space and run again: the journal "
                "keeps every step done so far",
                err=True,
            )
            sys.exit(EXIT_ERROR)
        if isinstance(error, SystemExit):
            raise error from None
        raise
    sys.exit(code if isinstance(code, int) else EXIT_OK)
