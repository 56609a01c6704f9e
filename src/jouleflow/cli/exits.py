"""One translation of errors into exit codes, for every entry point of the CLI.

Bad input (a click usage error, a ``ConfigError``) exits 2 with its message and fix; a sensor or
other jouleflow failure exits 1; Ctrl-C at a prompt exits 130.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from jouleflow.errors import ConfigError, JouleflowError


def invoke(
    command: click.Command, argv: Sequence[str] | None = None, prog_name: str | None = None
) -> None:
    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(2)
    except JouleflowError as err:
        click.echo(f"jouleflow: error: {err}", err=True)
        sys.exit(2 if isinstance(err, ConfigError) else 1)
