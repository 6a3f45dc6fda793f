"""How ``provider-node run`` behaves: every knob of the command line, with its default."""

from __future__ import annotations

from dataclasses import dataclass

from provider_node.context.listen import ListenAddress


@dataclass(frozen=True)
class NodeSettings:
    """Run-time options (the published terms live in the capability document)."""

    # Jobs claimed and not yet delivered at once; each holds one container.
    max_jobs: int = 2
    # Blocks an event must be buried under before the node acts on it (0 on a local chain).
    confirmations: int = 0
    # Seconds between two looks at the chain head (`run` picks 0.1 locally, 1 elsewhere).
    poll_interval_s: float = 1.0
    # Images never run, whatever the capability document accepts (shell patterns).
    deny_images: tuple[str, ...] = ()
    # Pull images the engine does not have (off: only preloaded images run).
    allow_pull: bool = False
    # Leave a job alone when its claim deadline is closer than this.
    claim_margin_s: int = 5
    # Time kept after the run for collecting, pinning and submitting before the work deadline.
    delivery_margin_s: int = 30
    # Free disk (MiB) kept beyond what the jobs' inputs and disk_mb may take (once, not per job).
    disk_margin_mb: int = 256
    # Processes a job may run (fork bombs stop here).
    pids: int = 256
    # Finalize our submitted jobs once their review window has passed.
    finalize: bool = True
    # Extra seconds to wait after the review window before finalizing.
    finalize_delay_s: int = 0
    # Withdraw the account's credits (failed pushes) when there are any.
    withdraw_credits: bool = False
    # Largest eth_getLogs range, in blocks; ranges adapt below it.
    max_log_span: int = 10_000
    # First block a fresh node reads (default: the market's deployment block).
    start_block: int | None = None
    # On SIGTERM/SIGINT, wait this long for steps in progress to reach a journaled point.
    shutdown_grace_s: float = 10.0
    # Where /metrics and /healthz are served (None: not served).
    metrics_listen: ListenAddress | None = None
    # /healthz fails when the event cursor is more than this many blocks behind the head.
    health_max_lag: int = 20
    # Jobs that ended and have not changed for this long are compacted in the journal, and
    # their results unpinned from the store (lifecycle/housekeeping.py).
    retention_s: int = 7 * 86400
    # Keep results pinned after the retention (the journal is compacted all the same).
    keep_results: bool = False
    # Where the read-only node API listens (host, port); None: no API (the default).
    api_listen: ListenAddress | None = None
