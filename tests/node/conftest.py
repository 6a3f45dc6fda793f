"""Fixtures for the provider node's tests: a real anvil with a fresh market per module, a real
dockerd with the busybox job image, a requester that posts and accepts through MarketClient, and
real ``provider-node run`` processes (``tests/support/node.py``).

Each module gets its own anvil and ``$JOBMARKET_HOME`` (shared by the node and the requester
side: same deployment record, same embedded content store). A module may set
``ANVIL_BLOCK_TIME`` (interval mining), ``ANVIL_KEEPS_STATE`` (anvil keeps its chain in a
file, so a test can stop it and start it again on its port), ``REGISTER_ARGS`` (extra
``register`` options) and ``NODE_ARGS`` (extra ``run`` options).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.node

from node_world import PROVIDER, Market, remove_node_containers
from support.node import ProviderNode, register_provider
from web3 import Web3

from jobmarket.chain.accounts import test_account
from jobmarket.chain.client import MarketClient
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.docker_engine import DEFAULT_IMAGE, docker_client, ensure_engine, ensure_image


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the node's executor mounts a size-limited /out per job: needs root")


@pytest.fixture(scope="session")
def docker_api() -> docker.DockerClient:
    """The real engine (started through ensure_engine() if needed) with the job image."""
    ensure_engine()
    client = docker_client()
    ensure_image(DEFAULT_IMAGE, client)
    return client


@pytest.fixture(scope="module")
def market(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Market]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JOBMARKET_HOME", str(home))
        for variable in ("IPFS_API", "JOBMARKET_IPFS_DIR", "JOBMARKET_DEPLOYMENTS",
                         "JOBMARKET_RPC_URL", "JOBMARKET_ACCOUNT"):  # fmt: skip
            env.delenv(variable, raising=False)
        block_time = getattr(request.module, "ANVIL_BLOCK_TIME", None)
        state = (
            home / "anvil-state.json"
            if getattr(request.module, "ANVIL_KEEPS_STATE", False)
            else None
        )
        with Anvil(block_time=block_time, log_path=home / "anvil.log", state_path=state) as anvil:
            w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
            deployment = deploy_market(w3, test_account(0), arbiter=test_account(9).address)
            client = MarketClient(w3, deployment.address, deployment)
            yield Market(anvil, home, w3, client, EmbeddedStore(home / "ipfs"),
                         deployment.block_number)  # fmt: skip


@pytest.fixture(scope="module")
def node(
    request: pytest.FixtureRequest, market: Market, docker_api: docker.DockerClient
) -> Iterator[ProviderNode]:
    """Provider TEST::1, registered with 1 ether of stake, running for the whole module."""
    register_provider(
        market.url,
        market.home,
        account=PROVIDER,
        stake="1 ether",
        args=list(getattr(request.module, "REGISTER_ARGS", ())),
    )
    provider = ProviderNode(
        rpc_url=market.url,
        home=market.home,
        account=PROVIDER,
        args=list(getattr(request.module, "NODE_ARGS", ())),
    )
    provider.start()
    yield provider
    provider.stop()
    remove_node_containers(market, docker_api)
