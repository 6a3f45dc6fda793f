"""``provider-node status``: jobs in flight from the journal, stake and earnings from the chain."""

from __future__ import annotations

import click

from jobmarket.cli import json_text, say
from provider_node import status as node_status
from provider_node.commands.common import STATE_NOTE, common_options, session_from


@click.command(epilog=STATE_NOTE)
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(rpc_url: str | None, account: str | None, as_json: bool) -> None:
    """Show jobs in flight, stake (locked/free), completed/slashed counts and earnings.

    Works whether or not `provider-node run` is running, but exits 1 when it is not (after
    printing everything, --json included). Amounts in --json are strings of the market's
    smallest unit (wei, or token units: see "currency"); gas is wei.
    """
    session = session_from(rpc_url, account)
    try:
        data = node_status.collect(session)
    finally:
        session.close()
    if as_json:
        click.echo(json_text(data, indent=2, sort_keys=True))
    else:
        say(node_status.render(data))
    if not data["running"]:
        raise click.exceptions.Exit(1)  # scripts and monitors can tell a stopped node


COMMANDS = [status]
