"""Root of the ``requester`` command line.

The root only holds global options and error reporting; each verb lives in a module under
``requester.commands``. Modules in :data:`COMMAND_MODULES` expose ``COMMANDS`` (a list of click
commands) and are loaded at start; the market verbs in :data:`LAZY_COMMANDS` load web3 (about
0.7 s), so their module is imported only when one of them runs or ``--help`` lists them, and
``requester cid`` stays instant.
"""

from importlib import import_module

import click

from jobmarket.cli import ErrorReportingGroup, debug_option

COMMAND_MODULES = (
    "requester.commands.content",
    "requester.commands.spec",
)

LAZY_COMMANDS = {
    "post": "requester.commands.jobs",
    "status": "requester.commands.jobs",
    "wait": "requester.commands.jobs",
    "results": "requester.commands.jobs",
    "accept": "requester.commands.jobs",
    "dispute": "requester.commands.jobs",
    "cancel": "requester.commands.jobs",
    "reclaim": "requester.commands.jobs",
    "finalize": "requester.commands.jobs",
    "close-dispute": "requester.commands.jobs",
    "resolve": "requester.commands.jobs",
    "logs": "requester.commands.jobs",
    "jobs": "requester.commands.market",
    "providers": "requester.commands.market",
    "estimate": "requester.commands.market",
    "watch": "requester.commands.market",
}


class RequesterGroup(ErrorReportingGroup):
    """The root group: eager verbs plus :data:`LAZY_COMMANDS`, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = LAZY_COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            for command in import_module(module).COMMANDS:
                self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=RequesterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@debug_option
def main(debug: bool) -> None:
    """Post compute jobs to the JobMarket contract and verify their results."""


for _module_name in COMMAND_MODULES:
    for _command in import_module(_module_name).COMMANDS:
        main.add_command(_command)
