"""Download a job's result and verify every file against the manifest and the chain.

ape run results --network ethereum:local:foundry JOB [DIR] [--max-size SIZE] [--json]
"""

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, account_option

from requester import verbs
from requester.ape_support import reporting_errors, script_requester
from requester.commands.options import job_id_argument, json_option, market_option, max_size_option


@click.command(cls=ConnectedProviderCommand)
@job_id_argument
@click.argument("destination", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@account_option(prompt=False)
@json_option
@market_option
@max_size_option
def cli(network, provider, account, market, job_id, destination, as_json, max_size):
    """Download a job's result into DIR [job-<id>-result], verified (at most --max-size)."""
    with reporting_errors(), script_requester(network, provider, account, market) as requester:
        verbs.results(
            requester,
            as_json=as_json,
            job_id=job_id,
            destination=destination,
            max_size=max_size,
        )
