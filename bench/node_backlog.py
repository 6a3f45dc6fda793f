"""How fast a fresh provider node catches up on a backlog of posted jobs.

Posts N jobs (default 1,000, each with its own spec in the store) on a fresh anvil, plus one
better-paid job the node can take; then starts a fresh ``provider-node run`` and reports:

* ``backlog_scan_s``: from the node's start (after its imports) until its event cursor reaches
  the head with every job journaled (the node's ``caught-up`` line);
* ``backlog_decided_s``: from the process start until every backlog job is decided (they ask
  for more memory than the node offers: each spec is fetched, verified and declined);
* ``backlog_first_claim_s``: from the process start until the one takeable job is claimed.

Needs root and a Docker engine (the node checks both at start)::

    .venv/bin/python -m bench.node_backlog [--jobs 1000]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import click
from web3 import Web3

from jobmarket.chain.accounts import test_account
from jobmarket.chain.client import ZERO_ADDRESS, MarketClient
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.docker_engine import DEFAULT_IMAGE, ensure_engine, ensure_image
from jobmarket.spec.job import JobSpec
from provider_node.dev.child import ProviderNode, register_provider

PRICE = 10**16


def post_backlog(w3: Web3, client: MarketClient, store: EmbeddedStore, jobs: int) -> int:
    """Post ``jobs`` unrunnable jobs and one runnable, better-paid one; returns its id."""
    requester = test_account(0)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    nonce = w3.eth.get_transaction_count(requester.address, "pending")
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
    fees = {"maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id}
    for index in range(jobs + 1):
        takeable = index == jobs
        spec = JobSpec(
            name=f"backlog-{index}",
            image=DEFAULT_IMAGE,
            command=["sh", "-c", "echo hi > /out/x"],
            resources={"memory_mb": 256 if takeable else 65536},  # type: ignore[arg-type]
        )
        digest = spec.publish(store).digest
        data = client.contract.encode_abi("post_job", [digest, ZERO_ADDRESS, deadline, 1200, 3600])
        tx = {
            "to": client.address,
            "data": data,
            "value": PRICE * (2 if takeable else 1),
            "nonce": nonce + index,
            "gas": 300_000,
            "type": 2,
            **fees,
        }
        w3.eth.send_raw_transaction(requester.sign_transaction(tx).raw_transaction)
    while w3.eth.get_block("pending")["transactions"]:
        w3.provider.make_request("anvil_mine", ["0x1"])  # type: ignore[arg-type]
    w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    return client.job_count() - 1


@click.command()
@click.option("--jobs", default=1000, show_default=True, help="Jobs in the backlog.")
def main(jobs: int) -> None:
    ensure_engine()
    ensure_image()
    home = Path(tempfile.mkdtemp(prefix="bench-backlog-"))
    os.environ["JOBMARKET_HOME"] = str(home)
    with Anvil(log_path=home / "anvil.log") as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        deployment = deploy_market(w3, test_account(0), arbiter=test_account(9).address)
        client = MarketClient(w3, deployment.address, deployment)
        register_provider(anvil.url, home, stake="1 ether", args=["--max-memory-mb", "4096"])
        posting = time.perf_counter()
        takeable = post_backlog(w3, client, EmbeddedStore(home / "ipfs", fsync=False), jobs)
        print(f"posted {jobs + 1} jobs in {time.perf_counter() - posting:.1f} s "
              f"up to block {w3.eth.block_number}", file=sys.stderr)  # fmt: skip

        node = ProviderNode(rpc_url=anvil.url, home=home)
        began = time.perf_counter()
        node.start(timeout=120)
        try:
            caught_up = node.wait_for(lambda e: e.get("event") == "caught-up", timeout=300)
            node.wait_for_step(takeable, "claimed", timeout=300)
            first_claim = time.perf_counter() - began
            while len(node.events("step", step="declined")) < jobs:
                if time.perf_counter() - began > 600:
                    raise click.ClickException("the node did not decide the backlog in 600 s")
                time.sleep(0.05)
            decided = time.perf_counter() - began
        finally:
            node.stop()
    print(f"backlog_jobs={jobs}")
    print(f"backlog_scan_s={float(caught_up['elapsed']):.2f}")
    print(f"backlog_first_claim_s={first_claim:.2f}")
    print(f"backlog_decided_s={decided:.2f}")


if __name__ == "__main__":
    main()
