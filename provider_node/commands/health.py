"""``provider-node health``: exit 0 when the running node is healthy, 1 otherwise (probes)."""

from __future__ import annotations

import click

from jobmarket.cli import error_line, say
from jobmarket.errors import UserError
from provider_node.health import DEFAULT_URL, probe


@click.command()
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    metavar="URL",
    help="The node's --metrics-listen address (its /healthz is asked).",
)
def health(url: str) -> None:
    """Ask a running node's /healthz: exit 0 when healthy, 1 when not or when nothing answers.

    Prints one line per check when healthy, one line per failing check otherwise (chain,
    docker, store, events). Meant for systemd (ExecStartPost / a timer), Docker HEALTHCHECK and
    Kubernetes exec probes; an HTTP probe can ask /healthz directly.
    """
    try:
        healthy, lines = probe(url)
    except UserError as err:
        error_line(err.message)
        raise click.exceptions.Exit(1) from None
    say("\n".join(lines))
    if not healthy:
        raise click.exceptions.Exit(1)


COMMANDS = [health]
