"""Housekeeping against a requester who names an old result as a new job's input (adversarial
tier; real node, anvil, Docker and the embedded store).

A result is public (its digest is on chain) and the node holds its blocks, so a requester may
post a job whose input is a result the node is about to release: the node finds the input in
its store and fetches nothing. Released under a job that has read its inputs but not staged
them yet, the job is declined for an input the node had (or, after its claim, abandoned and
the provider's collateral slashed). The housekeeper must keep such a result until the job
no longer needs it, then release it.
"""

from __future__ import annotations

import docker
from node_world import Market, node_id, shell_job
from support.node import ProviderNode

from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.spec.job import InputMount
from provider_node.executor.profile import container_name
from provider_node.lifecycle.housekeeping import REORG_DEPTH_BLOCKS

NODE_ARGS = ["--retention", "1s", "--max-jobs", "1"]


def test_a_result_named_as_a_waiting_jobs_input_is_kept_until_that_job_has_staged_it(
    market: Market, node: ProviderNode, docker_api: docker.DockerClient
) -> None:
    old = market.post(shell_job("echo chained > /out/prev.txt"))
    node.wait_for_step(old, "submitted", timeout=90)
    old_result = Cid.from_digest(market.result_digest(old), DAG_PB)
    market.accept(old)
    node.wait_for_step(old, "settled", timeout=30)
    # The only slot is taken, so the next job waits (seen) for it.
    blocker = market.post(shell_job("sleep 60", timeout_s=90))
    node.wait_for_step(blocker, "running", timeout=60)
    since = node.mark()
    chained = market.post(
        shell_job(
            "cat /in/prev/outputs/prev.txt",
            inputs=[InputMount(cid=str(old_result), path="prev")],
        )
    )
    node.wait_for_step(chained, "seen", since=since, timeout=60)
    # The old job now lies deeper than any reorg: it is compacted while the chained job waits.
    market.mine(REORG_DEPTH_BLOCKS + 10)
    node.wait_for(
        lambda e: e.get("event") == "housekept" and int(e.get("compacted", 0)) >= 1,
        since=since,
        timeout=60,
    )
    kept = node.wait_for(lambda e: e.get("event") == "results-kept", since=since, timeout=60)
    assert int(kept["results"]) == 1
    assert old_result not in market.store.pins() or market.store.has(old_result)
    # The round has run: end the blocker now (as an operator's docker kill would) rather than
    # wait out its sleep; its slot goes to the chained job.
    docker_api.containers.get(container_name(f"{node_id(node)}-{blocker}")).kill()

    node.wait_for_step(chained, "submitted", timeout=120)  # not declined: its input was there
    assert (market.fetch(chained, market.home / "chained").logs.stdout_tail or "").strip() == (
        "chained"
    )
    # Once staged, nothing needs it: a later round releases it like any other.
    node.wait_for(
        lambda e: e.get("event") == "housekept" and int(e.get("results_unpinned", 0)) >= 1,
        since=since,
        timeout=60,
    )
    assert old_result not in market.store.pins()
