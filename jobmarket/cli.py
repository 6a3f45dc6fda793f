"""Click plumbing shared by the project's command lines (``requester``, ``provider-node``, …).

A :class:`~jobmarket.errors.UserError` raised anywhere below a command becomes exactly one
line on stderr (``error: what is wrong; what to do``) and a non-zero exit, never a traceback.
``--debug`` (or ``JOBMARKET_DEBUG=1``) shows the traceback for bug reports.

Text for people goes out through :func:`say` and :func:`error_line`, which escape every
control character (:func:`jobmarket.terminal.printable`): names, paths, log tails and reasons
written by a counterpart never reach a terminal raw.
"""

import json
import os
import sys
import traceback
from typing import Any

import click

from jobmarket.errors import UserError
from jobmarket.terminal import printable


def say(text: object, *, err: bool = False) -> None:
    """Print text for people (stdout, or stderr with ``err``); line breaks are kept, every
    other control character is shown escaped."""
    click.echo(printable(text, keep_newlines=True), err=err)


def json_text(document: Any, **dumps: Any) -> str:
    """JSON for a terminal or a pipe: ``json.dumps`` (ASCII, so C0 and C1 controls come out as
    ``\\uXXXX``) with DEL escaped too."""
    return json.dumps(document, **dumps).replace("\x7f", "\\u007f")


def error_line(message: object) -> None:
    """``error: …`` on stderr as exactly one line, whatever the message holds."""
    click.echo(f"error: {printable(message)}", err=True)


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
            error_line(f"{err.format_message().rstrip('.')}{hint}")
            sys.exit(err.exit_code)
        except click.ClickException as err:
            error_line(err.format_message())
            sys.exit(err.exit_code)
        except click.Abort:
            error_line("aborted")
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as err:
            if _debug_enabled(ctx):
                traceback.print_exc()
            error_line(err.message)
            sys.stdout.flush()
            raise click.exceptions.Exit(err.exit_code) from None


class ErrorReportingGroup(ErrorReportingCommand, click.Group):
    """A click group whose subcommands' errors are reported the same way."""


debug_option = click.option(
    "--debug", is_flag=True, default=False, help="Show tracebacks for errors (for bug reports)."
)
