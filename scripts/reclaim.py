"""Reclaim a job past its claim or work deadline; the price (and collateral) comes back.

ape run reclaim --network ethereum:local:foundry JOB [--account ALIAS] [--json]
"""

import click
from ape.cli import ConnectedProviderCommand, account_option

from requester import verbs
from requester.ape_support import reporting_errors, script_requester
from requester.commands.options import job_id_argument, json_option


@click.command(cls=ConnectedProviderCommand)
@job_id_argument
@account_option(prompt=False)
@json_option
def cli(network, provider, account, job_id, as_json):
    """Reclaim a job past its claim or work deadline; the price (and collateral) comes back."""
    with reporting_errors(), script_requester(network, provider, account) as requester:
        verbs.act(requester, "reclaim", as_json=as_json, job_id=job_id)
