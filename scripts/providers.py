"""List registered providers: stake, track record and verified capability documents.

ape run providers --network ethereum:local:foundry [--json]
"""

import click
from ape.cli import ConnectedProviderCommand, account_option

from requester import verbs
from requester.ape_support import reporting_errors, script_requester
from requester.commands.options import json_option, market_option


@click.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@json_option
@market_option
def cli(network, provider, account, market, as_json):
    """List registered providers."""
    with reporting_errors(), script_requester(network, provider, account, market) as requester:
        verbs.providers(requester, as_json=as_json)
