"""Root of the ``requester`` command line.

The root only holds global options and error reporting; each verb lives in a module under
``requester.commands`` that exposes ``COMMANDS`` (a list of click commands) and is listed in
:data:`COMMAND_MODULES` below.
"""

from importlib import import_module

import click

from jobmarket.cli import ErrorReportingGroup, debug_option

COMMAND_MODULES = (
    "requester.commands.content",
    "requester.commands.spec",
)


@click.group(cls=ErrorReportingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@debug_option
def main(debug: bool) -> None:
    """Post compute jobs to the JobMarket contract and verify their results."""


for _module_name in COMMAND_MODULES:
    for _command in import_module(_module_name).COMMANDS:
        main.add_command(_command)
