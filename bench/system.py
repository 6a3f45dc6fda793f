"""`make bench`: the whole system's figures, measured side by side in one run.

Prints one ``name=value`` line per figure on stdout (details on stderr):

* ``lifecycle_gas``: post + claim + submit + accept in steady state (``make bench-gas``);
* ``overhead_ratio``: wall time of a trivial job from post to verified results, divided by a
  bare ``docker run`` of the same image and command with the same limits (median of pairs);
* ``claim_latency_blocks``: blocks between JobPosted and JobClaimed, anvil mining every second;
* ``backlog_catchup_s``: a fresh node's time to scan the events of 1,000 posted jobs and be ready;
* ``throughput_jobs_per_min``: 4 concurrent slots, 2-second jobs (ideal 120).

Every figure runs the real parts: anvil, the contract, a ``provider-node run`` process with its
default settings, the requester API, Docker. Needs root and a Docker engine::

    .venv/bin/python -m bench.system [--pairs 7] [--backlog 1000] [--throughput-jobs 24]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from bench.node_backlog import post_backlog
from jobmarket.chain.accounts import test_account
from jobmarket.chain.client import ZERO_ADDRESS, MarketClient
from jobmarket.chain.rpc import connect
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.docker_engine import DEFAULT_IMAGE, ensure_engine, ensure_image
from jobmarket.spec.job import JobSpec
from provider_node.dev.child import ProviderNode, register_provider
from provider_node.executor.profile import docker_run_command
from provider_node.executor.spec import Limits
from requester import Requester

REPO = Path(__file__).resolve().parent.parent
PROVIDER, REQUESTER = "TEST::1", "TEST::2"
TRIVIAL = ["sh", "-c", "echo ok > /out/ok"]
PRICE_WEI = 10**16
GAS_BENCH_ARGS = ("--network", "ethereum:local:foundry", "-v", "WARNING")


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def figure(name: str, value: object) -> None:
    print(f"{name}={value}", flush=True)


@dataclass
class World:
    """A chain with a deployed market and a registered provider, under its own home folder."""

    anvil: Anvil
    home: Path
    client: MarketClient


@contextmanager
def world(block_time: float | None = None, **register: str) -> Iterator[World]:
    """A fresh chain, market and home folder per figure (removed afterwards), so no figure
    sees another's jobs, journal or content."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-system-", ignore_cleanup_errors=True) as folder,
        Anvil(block_time=block_time, log_path=Path(folder) / "anvil.log") as anvil,
    ):
        home = Path(folder)
        os.environ["JOBMARKET_HOME"] = str(home)
        w3 = connect(anvil.url)
        deployment = deploy_market(w3, test_account(0), arbiter=test_account(9).address)
        register_provider(
            anvil.url, home, account=PROVIDER, stake="10 ether", args=_flags(register)
        )
        yield World(anvil, home, MarketClient(w3, deployment.address, deployment))


def _flags(options: dict[str, str]) -> list[str]:
    return [part for key, value in options.items() for part in (f"--{key}", value)]


def post_raw(client: MarketClient, spec: JobSpec, store: EmbeddedStore) -> tuple[int, int]:
    """Post ``spec`` from the requester account; returns (job id, block of the post)."""
    digest = spec.publish(store).digest
    deadline = int(client.w3.eth.get_block("latest")["timestamp"]) + 600
    work_timeout = spec.timeout_s + 600  # room for the node's delivery margin
    receipt = client.transact(
        test_account(2), "post_job", digest, ZERO_ADDRESS, deadline, work_timeout, 600,
        value=PRICE_WEI,
    )  # fmt: skip
    return client.job_count() - 1, int(receipt["blockNumber"])


# -- the figures ---------------------------------------------------------------------------------


def lifecycle_gas() -> int:
    """The steady-state lifecycle from the gas benchmark (its last line)."""
    completed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ape"), "run", "bench_gas", *GAS_BENCH_ARGS],
        cwd=REPO,
        env=dict(os.environ, APE_FOUNDRY_HOST="auto"),
        capture_output=True,
        text=True,
        check=True,
    )
    last = completed.stdout.strip().splitlines()[-1]
    name, _, value = last.partition("=")
    if name != "lifecycle_gas":
        raise click.ClickException(f"bench_gas ended with {last!r}")
    return int(value)


def overhead_ratio(pairs: int) -> float:
    """Median post→verified-results time over median bare ``docker run`` time."""
    system_times: list[float] = []
    bare_times: list[float] = []
    with (
        world() as w,
        ProviderNode(rpc_url=w.anvil.url, home=w.home, account=PROVIDER),
        Requester.connect(rpc_url=w.anvil.url, account=REQUESTER) as me,
    ):
        bare_command: list[str] | None = None
        for index in range(pairs + 1):  # the first pair warms caches up and is dropped
            began = time.perf_counter()
            job = me.post(image=DEFAULT_IMAGE, command=TRIVIAL, price=PRICE_WEI, timeout=60)
            job.wait(timeout=60)
            manifest = job.results(w.home / f"result-{job.id}")
            elapsed = time.perf_counter() - began
            if manifest.status != "succeeded":
                raise click.ClickException(f"job {job.id} ended {manifest.status}")
            if bare_command is None:  # the limits and user the node really applied
                applied = manifest.limits
                limits = Limits(**applied.model_dump(exclude={"read_only_root", "user"}))
                uid, _, gid = applied.user.partition(":")
                out_dir = w.home / "bare-out"
                out_dir.mkdir()
                os.chown(out_dir, int(uid), int(gid or uid))
                bare_command = docker_run_command(
                    limits, DEFAULT_IMAGE, TRIVIAL, user=applied.user, out_dir=out_dir
                )
            bare_began = time.perf_counter()
            subprocess.run(bare_command, check=True, capture_output=True)
            bare = time.perf_counter() - bare_began
            if index > 0:
                system_times.append(elapsed)
                bare_times.append(bare)
                note(f"  pair {index}: system {elapsed:.3f} s, bare docker run {bare:.3f} s")
    system, bare = statistics.median(system_times), statistics.median(bare_times)
    note(f"overhead: median system {system:.3f} s vs bare docker run {bare:.3f} s")
    return system / bare


def claim_latency_blocks(jobs: int) -> float:
    """Median blocks from a post to its claim, anvil mining one block per second."""
    blocks: list[int] = []
    with world(block_time=1) as w, ProviderNode(rpc_url=w.anvil.url, home=w.home) as node:
        store = EmbeddedStore(w.home / "ipfs")
        posted = []
        for index in range(jobs):
            spec = JobSpec(name=f"latency-{index}", image=DEFAULT_IMAGE, command=["true"])
            job_id, posted_block = post_raw(w.client, spec, store)
            claimed = node.wait_for_step(job_id, "claimed", timeout=60)
            blocks.append(int(claimed["block"]) - posted_block)
            posted.append(job_id)
        # Let every job finish: a node stopped mid-run leaves its container and /out behind.
        for job_id in posted:
            node.wait_for_step(job_id, "submitted", timeout=60)
    note(f"claim latency in blocks: {blocks}")
    return statistics.median(blocks)


def backlog_catchup_s(jobs: int) -> float:
    """A fresh node's start until its cursor reached the head with every job journaled."""
    with world(**{"max-memory-mb": "4096"}) as w:
        began = time.perf_counter()
        post_backlog(w.client.w3, w.client, EmbeddedStore(w.home / "ipfs", fsync=False), jobs)
        note(f"posted {jobs + 1} jobs in {time.perf_counter() - began:.1f} s")
        node = ProviderNode(rpc_url=w.anvil.url, home=w.home, account=PROVIDER)
        started = time.perf_counter()
        node.start(timeout=120)
        try:
            caught_up = node.wait_for(lambda e: e.get("event") == "caught-up", timeout=300)
            ready = time.perf_counter() - started
        finally:
            node.stop()
    note(
        f"backlog: process start to caught-up {ready:.2f} s "
        f"(of which scanning {float(caught_up['elapsed']):.2f} s)"
    )
    return ready


def throughput_jobs_per_min(jobs: int, slots: int = 4, seconds: int = 2) -> float:
    """Jobs delivered per minute with ``slots`` concurrent jobs of ``seconds`` each."""
    with world() as w:
        store = EmbeddedStore(w.home / "ipfs")
        # A sleeping job needs no CPU: ask for a quarter core so 4 fit on a 2-core machine.
        small = {"cpu": 0.25, "memory_mb": 64}
        specs = [
            JobSpec(
                name=f"sleep-{i}",
                image=DEFAULT_IMAGE,
                command=["sleep", str(seconds)],
                resources=small,  # type: ignore[arg-type]
            )
            for i in range(jobs)
        ]
        args = ["--max-jobs", str(slots)]
        with ProviderNode(rpc_url=w.anvil.url, home=w.home, account=PROVIDER, args=args) as node:
            began = time.perf_counter()
            ids = [post_raw(w.client, spec, store)[0] for spec in specs]
            for job_id in ids:
                node.wait_for_step(job_id, "submitted", timeout=300)
            elapsed = time.perf_counter() - began
    note(f"throughput: {jobs} jobs of {seconds} s on {slots} slots in {elapsed:.1f} s")
    return jobs / elapsed * 60


@click.command()
@click.option("--pairs", default=7, show_default=True, help="Timed pairs for overhead_ratio.")
@click.option("--latency-jobs", default=5, show_default=True, help="Jobs for claim latency.")
@click.option("--backlog", default=1000, show_default=True, help="Jobs in the backlog.")
@click.option("--throughput-jobs", default=24, show_default=True, help="Jobs for throughput.")
def main(pairs: int, latency_jobs: int, backlog: int, throughput_jobs: int) -> None:
    ensure_engine()
    ensure_image(DEFAULT_IMAGE)
    figure("lifecycle_gas", lifecycle_gas())
    figure("overhead_ratio", f"{overhead_ratio(pairs):.2f}")
    figure("claim_latency_blocks", f"{claim_latency_blocks(latency_jobs):g}")
    figure("backlog_catchup_s", f"{backlog_catchup_s(backlog):.2f}")
    figure("throughput_jobs_per_min", f"{throughput_jobs_per_min(throughput_jobs):.1f}")


if __name__ == "__main__":
    main()
