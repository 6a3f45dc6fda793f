"""Root of the ``provider-node`` command line (also ``python -m provider_node``).

Verbs live in ``provider_node.commands``: ``register``, ``stake``, ``unstake``, ``withdraw``
(account), ``status``, ``run``, ``health``. Every failure a user can fix prints one ``error:``
line and exits non-zero (see ``jobmarket.cli``).
"""

from importlib import import_module

import click

from jobmarket.cli import ErrorReportingGroup, debug_option

COMMAND_MODULES = (
    "provider_node.commands.account",
    "provider_node.commands.status",
    "provider_node.commands.run",
    "provider_node.commands.health",
)


@click.group(cls=ErrorReportingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@debug_option
def main(debug: bool) -> None:
    """A provider node for the JobMarket: claims jobs, runs them in hardened containers,
    pins the results and gets paid.

    Typical start: `provider-node register --stake '0.5 ether'`, then `provider-node run`.
    """


for _module_name in COMMAND_MODULES:
    for _command in import_module(_module_name).COMMANDS:
        main.add_command(_command)
