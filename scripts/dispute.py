"""Dispute a job's submitted result within the review window; the arbiter settles it.

ape run dispute --network ethereum:local:foundry JOB [--account ALIAS] [--json]
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
    """Dispute a job's submitted result within the review window; the arbiter settles it."""
    with reporting_errors(), script_requester(network, provider, account) as requester:
        verbs.act(requester, "dispute", as_json=as_json, job_id=job_id)
