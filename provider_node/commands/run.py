"""``provider-node run``: serve the market until stopped (SIGTERM/SIGINT)."""

from __future__ import annotations

import logging

import click

from jobmarket.chain.rpc import default_poll_interval, is_local_chain
from jobmarket.durations import format_duration, parse_duration
from provider_node.commands.common import STATE_NOTE, common_options, session_from
from provider_node.context import logs
from provider_node.context.listen import LISTEN_ADDRESS, ListenAddress
from provider_node.context.settings import NodeSettings
from provider_node.node import Node, retry_start_up

_DEFAULTS = NodeSettings()
_LOCAL_CHAINS_NOTE = " [default: 0 on a local chain, 2 elsewhere]"


@click.command(epilog=STATE_NOTE)
@common_options
@click.option(
    "--max-jobs",
    type=click.IntRange(1, 256),
    default=_DEFAULTS.max_jobs,
    show_default=True,
    help="Jobs claimed and not yet delivered at once (one container each).",
)
@click.option(
    "--confirmations",
    type=click.IntRange(0, 1000),
    default=None,
    help="Blocks an event must be buried under before the node acts on it." + _LOCAL_CHAINS_NOTE,
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.05, 60),
    default=None,
    help="Seconds between two looks at the chain head [default: 0.1 on a local chain, 1 "
    "elsewhere].",
)
@click.option(
    "--deny-image",
    "deny_images",
    multiple=True,
    metavar="PATTERN",
    help="Never run images matching this shell pattern (repeatable), whatever was registered.",
)
@click.option(
    "--allow-pull/--no-allow-pull",
    default=_DEFAULTS.allow_pull,
    show_default=True,
    help="Pull images the Docker engine does not have (off: preloaded images only).",
)
@click.option(
    "--claim-margin",
    type=click.IntRange(0, 86400),
    default=_DEFAULTS.claim_margin_s,
    show_default=True,
    help="Leave jobs whose claim deadline is closer than this (seconds).",
)
@click.option(
    "--delivery-margin",
    type=click.IntRange(1, 86400),
    default=_DEFAULTS.delivery_margin_s,
    show_default=True,
    help="Seconds kept before the work deadline to collect, pin and submit the result.",
)
@click.option(
    "--disk-margin",
    type=click.IntRange(0, 10**7),
    default=_DEFAULTS.disk_margin_mb,
    show_default=True,
    help="MiB of free disk kept beyond what the jobs in progress may take (inputs + disk_mb).",
)
@click.option(
    "--pids",
    type=click.IntRange(8, 65536),
    default=_DEFAULTS.pids,
    show_default=True,
    help="Processes one job may run (fork bombs stop here).",
)
@click.option(
    "--finalize/--no-finalize",
    default=_DEFAULTS.finalize,
    show_default=True,
    help="Finalize our submitted jobs once their review window has passed.",
)
@click.option(
    "--finalize-delay",
    type=click.IntRange(0, 10**7),
    default=_DEFAULTS.finalize_delay_s,
    show_default=True,
    help="Extra seconds to wait after a review window before finalizing.",
)
@click.option(
    "--withdraw-credits",
    is_flag=True,
    default=_DEFAULTS.withdraw_credits,
    help="Withdraw the account's credits (payments the market could not push) as they appear.",
)
@click.option(
    "--max-log-range",
    type=click.IntRange(1, 10**7),
    default=_DEFAULTS.max_log_span,
    show_default=True,
    help="Largest eth_getLogs range in blocks (ranges adapt below it).",
)
@click.option(
    "--start-block",
    type=click.IntRange(0),
    default=None,
    help="First block a fresh node reads [default: the market's deployment block].",
)
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(0, 3600),
    default=_DEFAULTS.shutdown_grace_s,
    show_default=True,
    help="On SIGTERM/SIGINT, seconds to let steps in progress reach a journaled point.",
)
@click.option(
    "--metrics-listen",
    type=LISTEN_ADDRESS,
    default=None,
    help="Serve Prometheus /metrics and /healthz on HOST:PORT, e.g. 127.0.0.1:9464 [default: off].",
)
@click.option(
    "--health-max-lag",
    type=click.IntRange(0, 10**6),
    default=_DEFAULTS.health_max_lag,
    show_default=True,
    help="/healthz fails when the events read lag the confirmed head by more blocks.",
)
@click.option(
    "--retention",
    default=format_duration(_DEFAULTS.retention_s),
    show_default=True,
    metavar="DURATION",
    help="Jobs that ended and have not changed for this long are compacted in the journal "
    "and their results unpinned from the store (e.g. 7d, 12h, 90s).",
)
@click.option(
    "--keep-results",
    is_flag=True,
    default=_DEFAULTS.keep_results,
    help="Keep results pinned after the retention (the journal is compacted all the same).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr: logfmt text or one JSON object per line.",
)
@click.option(
    "--api-listen",
    type=LISTEN_ADDRESS,
    default=None,
    help="Serve the read-only node API here (job views; live logs for each job's requester) "
    "[default: off]. Publish its public URL with `register --api-url`.",
)
@click.option("--verbose", "-v", is_flag=True, help="Also log debug events (ranges, pipelines).")
def run(
    rpc_url: str | None,
    account: str | None,
    max_jobs: int,
    confirmations: int | None,
    poll_interval: float | None,
    deny_images: tuple[str, ...],
    allow_pull: bool,
    claim_margin: int,
    delivery_margin: int,
    disk_margin: int,
    pids: int,
    finalize: bool,
    finalize_delay: int,
    withdraw_credits: bool,
    max_log_range: int,
    start_block: int | None,
    shutdown_grace: float,
    metrics_listen: ListenAddress | None,
    health_max_lag: int,
    retention: str,
    keep_results: bool,
    log_format: str,
    api_listen: ListenAddress | None,
    verbose: bool,
) -> None:
    """Claim, run and deliver jobs from the market until stopped.

    Listens to the market's events, takes the jobs its registered capabilities and these
    options accept, runs each in a hardened container, pins the result and submits it, then
    finalizes the job once the review window has passed. Safe to kill at any moment: the next
    start resumes every job from the journal.
    """
    logs.configure(log_format, logging.DEBUG if verbose else logging.INFO)
    retention_s = parse_duration(retention, what="retention (--retention)")
    session = session_from(rpc_url, account)
    chain_id = retry_start_up(lambda: session.client.chain_id)
    if confirmations is None:
        confirmations = 0 if is_local_chain(chain_id) else 2
    if poll_interval is None:
        poll_interval = default_poll_interval(chain_id)
    settings = NodeSettings(
        max_jobs=max_jobs,
        confirmations=confirmations,
        poll_interval_s=poll_interval,
        deny_images=deny_images,
        allow_pull=allow_pull,
        claim_margin_s=claim_margin,
        delivery_margin_s=delivery_margin,
        disk_margin_mb=disk_margin,
        pids=pids,
        finalize=finalize,
        finalize_delay_s=finalize_delay,
        withdraw_credits=withdraw_credits,
        max_log_span=max_log_range,
        start_block=start_block,
        shutdown_grace_s=shutdown_grace,
        metrics_listen=metrics_listen,
        health_max_lag=health_max_lag,
        retention_s=retention_s,
        keep_results=keep_results,
        api_listen=api_listen,
    )
    Node(session, settings).run()


COMMANDS = [run]
