"""List the jobs an account posted, with their state and who they wait on.

ape run jobs --network ethereum:local:foundry [--account ALIAS] [--active] [--json]
"""

import click
from ape.cli import ConnectedProviderCommand, account_option

from requester import verbs
from requester.ape_support import reporting_errors, script_requester
from requester.commands.options import json_option, market_option


@click.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@click.option("--active", is_flag=True, help="Only jobs that are not settled yet.")
@json_option
@market_option
def cli(network, provider, account, market, active, as_json):
    """List your jobs."""
    with reporting_errors(), script_requester(network, provider, account, market) as requester:
        verbs.jobs(requester, as_json=as_json, active=active)
