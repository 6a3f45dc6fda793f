"""Click plumbing shared by the project's command lines (``requester``, ``provider-node``, …).

A :class:`~jobmarket.errors.UserError` raised anywhere below a command becomes exactly one
line on stderr (``error: what is wrong; what to do``) and a non-zero exit, never a traceback.
``--debug`` (or ``JOBMARKET_DEBUG=1``) shows the traceback for bug reports.
"""

import os
import sys
import traceback
from typing import Any

import click

from jobmarket.errors import UserError


def _debug_enabled(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("JOBMARKET_DEBUG") == "1"


class ErrorReportingCommand(click.Command):
    """A click command that turns :class:`UserError` into one error line and its exit code.

    Click's own usage errors get the same one-line treatment instead of three lines of usage.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as err:
            hint = f"; see '{err.ctx.command_path} --help'" if err.ctx is not None else ""
            click.echo(f"error: {err.format_message().rstrip('.')}{hint}", err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as err:
            if _debug_enabled(ctx):
                traceback.print_exc()
            click.echo(f"error: {err.message}", err=True)
            sys.stdout.flush()
            raise click.exceptions.Exit(err.exit_code) from None


class ErrorReportingGroup(ErrorReportingCommand, click.Group):
    """A click group whose subcommands' errors are reported the same way."""


debug_option = click.option(
    "--debug", is_flag=True, default=False, help="Show tracebacks for errors (for bug reports)."
)
