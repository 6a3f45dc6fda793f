"""``requester jobs | providers | estimate | watch``: the market as one requester sees it."""

from __future__ import annotations

from typing import Any

import click

from requester import verbs
from requester.api import Requester
from requester.commands.options import estimate_options, market_command, watch_options


@click.command("jobs")
@click.option("--active", is_flag=True, help="Only jobs that are not settled yet.")
@market_command
def jobs(requester: Requester, as_json: bool, active: bool) -> None:
    """List the jobs this account posted, with their state and who they wait on."""
    verbs.jobs(requester, as_json=as_json, active=active)


@click.command("providers")
@market_command
def providers(requester: Requester, as_json: bool) -> None:
    """List registered providers: stake, track record, verified capability documents."""
    verbs.providers(requester, as_json=as_json)


@click.command("estimate")
@estimate_options
@market_command
def estimate(requester: Requester, **options: Any) -> None:
    """What a job would cost: price plus gas for each way it can end; who would take it."""
    verbs.estimate(requester, **options)


@click.command("watch")
@watch_options
@market_command
def watch(requester: Requester, **options: Any) -> None:
    """Follow all your unsettled jobs (and new posts) live, one line per on-chain step.

    With --json, each step is one JSON object per line (JSON Lines) on standard output.
    """
    verbs.watch(requester, **options)


COMMANDS = [jobs, providers, estimate, watch]
