"""Show a job: state, deadlines, who may act next and when, history and costs.

ape run job_status --network ethereum:local:foundry JOB [--json]
"""

import click
from ape.cli import ConnectedProviderCommand, account_option

from requester import verbs
from requester.ape_support import reporting_errors, script_requester
from requester.commands.options import job_id_argument, json_option, market_option


@click.command(cls=ConnectedProviderCommand)
@job_id_argument
@account_option(prompt=False)
@json_option
@market_option
def cli(network, provider, account, market, job_id, as_json):
    """Show a job's state, deadlines, next moves, history and costs."""
    with reporting_errors(), script_requester(network, provider, account, market) as requester:
        verbs.status(requester, as_json=as_json, job_id=job_id)
