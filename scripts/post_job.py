"""Post a job to the JobMarket and escrow its price (a thin layer over ``requester.verbs``).

    ape run post_job --network ethereum:local:foundry \\
        --image jobmarket/busybox:1 --cmd "sh -c 'wc -l /in/data.csv > /out/lines'" \\
        --price 0.01 --input data.csv [--wait --fetch result/ --accept] [--json]

The options are those of ``requester post``; ``--account`` is ape's (default on a local
network: test account 0).
"""

import click
from ape.cli import ConnectedProviderCommand, account_option

from requester import verbs
from requester.ape_support import reporting_errors, script_requester
from requester.commands.options import json_option, market_option, post_options


@click.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@post_options
@json_option
@market_option
def cli(network, provider, account, market, **options):
    """Post a job; optionally follow it to a verified, accepted result."""
    with reporting_errors(), script_requester(network, provider, account, market) as requester:
        verbs.post(requester, **options)
