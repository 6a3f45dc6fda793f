"""Claim latency: how many blocks after a job's post does a running node's claim land?

anvil mines a block every second (``--block-time 1``, like a fast L2); a provider node runs
with its defaults (head polled every 0.2 s, no confirmations on a local chain). Jobs are posted
one at a time; for each, the claim's block minus the post's block is read from the node's log
(``blocks_after_post`` on its ``claimed`` line), and the wall time from the post's receipt to
that line. Prints the median and the worst of N jobs. Needs root and a Docker engine::

    .venv/bin/python bench/node_claim_latency.py [--jobs 10]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import click
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.node import ProviderNode, register_provider

from jobmarket.chain.accounts import test_account
from jobmarket.chain.client import ZERO_ADDRESS, MarketClient
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.docker_engine import DEFAULT_IMAGE, ensure_engine, ensure_image
from jobmarket.spec.job import JobSpec

PRICE = 10**16


@click.command()
@click.option("--jobs", default=10, show_default=True, help="Jobs posted, one at a time.")
def main(jobs: int) -> None:
    ensure_engine()
    ensure_image()
    home = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    os.environ["JOBMARKET_HOME"] = str(home)
    blocks: list[int] = []
    seconds: list[float] = []
    with Anvil(block_time=1, log_path=home / "anvil.log") as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        deployment = deploy_market(w3, test_account(0), arbiter=test_account(9).address)
        client = MarketClient(w3, deployment.address, deployment)
        store = EmbeddedStore(home / "ipfs")
        register_provider(anvil.url, home, stake="1 ether")
        with ProviderNode(rpc_url=anvil.url, home=home) as node:
            for index in range(jobs):
                spec = JobSpec(
                    name=f"latency-{index}", image=DEFAULT_IMAGE, command=["true"], timeout_s=60
                )
                digest = spec.publish(store).digest
                deadline = int(w3.eth.get_block("latest")["timestamp"]) + 600
                receipt = client.transact(
                    test_account(0), "post_job", digest, ZERO_ADDRESS, deadline, 600, 60,
                    value=PRICE,
                )  # fmt: skip
                posted_at = time.time()
                job_id = client.job_count() - 1
                claimed = node.wait_for_step(job_id, "claimed", timeout=60)
                claimed_at = datetime.fromisoformat(claimed["ts"].replace("Z", "+00:00"))
                blocks.append(int(claimed["block"]) - int(receipt["blockNumber"]))
                seconds.append(claimed_at.timestamp() - posted_at)
                node.wait_for_step(job_id, "submitted", timeout=60)
    print(f"claim_latency_jobs={jobs}")
    print(f"claim_latency_blocks_median={statistics.median(blocks):g}")
    print(f"claim_latency_blocks_max={max(blocks)}")
    print(f"claim_latency_s_median={statistics.median(seconds):.2f}")
    print(f"claim_latency_s_max={max(seconds):.2f}")


if __name__ == "__main__":
    main()
