"""``requester post | status | wait | results | accept | dispute | cancel | reclaim``.

One job's life from the command line. ``post --wait --fetch DIR --accept`` runs the whole
round trip: post, follow the job live, download and verify the result, accept it. The work is
done in :mod:`requester.verbs`, shared with the ape scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from requester import verbs
from requester.api import Requester
from requester.commands.options import (
    ACTION_OPTIONS,
    job_id_argument,
    market_command,
    max_size_option,
    post_options,
    wait_options,
)


@click.command("post")
@post_options
@market_command
def post(requester: Requester, **options: Any) -> None:
    """Post a job and escrow its price; optionally follow it to a verified, accepted result."""
    verbs.post(requester, **options)


@click.command("status")
@job_id_argument
@market_command
def status(requester: Requester, as_json: bool, job_id: str) -> None:
    """Show a job: state, deadlines, who may act next and when, history and costs."""
    verbs.status(requester, as_json=as_json, job_id=job_id)


@click.command("wait")
@job_id_argument
@wait_options
@market_command
def wait(requester: Requester, **options: Any) -> None:
    """Follow a job live, step by step, until you have to act or it is settled."""
    verbs.wait(requester, **options)


@click.command("results")
@job_id_argument
@click.argument("destination", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@max_size_option
@click.option(
    "--gateway",
    metavar="URL",
    help="Read the result through this IPFS trustless gateway (every block verified).",
)
@market_command
def results(requester: Requester, **options: Any) -> None:
    """Download a job's result into DIR [job-<id>-result] and verify every file.

    Nothing is written before the manifest verified against the chain and its declared sizes
    fit --max-size and the free space; DIR appears only once every file verified.
    """
    verbs.results(requester, **options)


@click.command("logs")
@job_id_argument
@click.option("--stderr", is_flag=True, help="The job's standard error instead of its output.")
@click.option("--tail", type=int, metavar="N", help="Only the last N lines.")
@click.option(
    "--follow",
    is_flag=True,
    help="While the job runs, stream its lines live from the provider's node API until it ends.",
)
@market_command
def logs(requester: Requester, **options: Any) -> None:
    """Print a job's logs from its verified result (escaped), without downloading outputs.

    With --follow, a job not delivered yet is streamed from its provider's node API (signed by
    your account: only the job's requester may read them) until its container ends.
    """
    verbs.logs(requester, **options)


def _action_command(action: str, summary: str) -> click.Command:
    def command(requester: Requester, as_json: bool, job_id: str, **options: Any) -> None:
        verbs.act(requester, action, as_json=as_json, job_id=job_id, **options)

    for decorator in reversed([job_id_argument, *ACTION_OPTIONS.get(action, []), market_command]):
        command = decorator(command)
    return click.command(action.replace("_", "-"), help=summary)(command)


accept = _action_command("accept", "Accept a submitted result: the provider gets paid.")
dispute = _action_command(
    "dispute", "Reject a submitted result within the review window; the arbiter settles the job."
)
cancel = _action_command("cancel", "Withdraw a job nobody has claimed; the price is refunded.")
reclaim = _action_command(
    "reclaim",
    "Expire a job past its claim or work deadline; the price (plus the provider's collateral "
    "for a missed work deadline) comes back to you.",
)
finalize = _action_command(
    "finalize",
    "Anyone, after the review window: pay the provider of a result nobody reviewed.",
)
close_dispute = _action_command(
    "close_dispute",
    "Anyone, after the arbiter's deadline: settle a dispute 50/50 (nobody is slashed).",
)
resolve = _action_command(
    "resolve",
    "The arbiter, before its deadline: split a disputed job's price (--provider-share).",
)

COMMANDS = [
    post,
    status,
    wait,
    results,
    accept,
    dispute,
    cancel,
    reclaim,
    finalize,
    close_dispute,
    resolve,
    logs,
]
