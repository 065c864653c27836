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


def run_main(group: click.Group, argv: list[str] | None) -> NoReturn:
    """Invoke ``group`` and exit with the code its outcome maps to."""
    try:
        code = group.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except RecipeError as e:
        for problem in e.problems:
            click.echo(str(problem), err=True)
        n = len(e.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} found.", err=True)
        sys.exit(EXIT_ERROR)
    except LeobatchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
