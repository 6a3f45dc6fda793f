"""Two parties who share nothing but the chain: a requester host and a provider host.

Built on :mod:`support.netns` (a private LAN of network namespaces, the root namespace as chain
host) and :mod:`support.kubo` (real Kubo daemons). :func:`two_hosts` gives

* **host A, the requester**: its own Kubo daemon listening on A's address only, its own
  ``JOBMARKET_HOME``; the ``requester`` CLI runs inside A's namespace (:meth:`TwoHosts.requester`);
* **host B, the provider**: its own Kubo daemon on B's address, its own ``JOBMARKET_HOME``; the
  provider is registered from B (its capability document publishes B's IPFS peer addresses) and
  ``provider-node run`` runs inside B's namespace, its jobs in Docker with network none;
* **the chain**: anvil in the root namespace on the LAN's ``10.N.0.1``, the market deployed; each
  host has its own copy of the deployment record (a chain fact, not content).

Content moves only between the two Kubo daemons: neither home has an embedded store, and no
folder is shared (each host's folder is its own). The requester's ``JOBMARKET_IPFS_PEERS``
names B's address, the private network's bootstrap list (see ``jobmarket/content/peers.py``);
everything after that comes from the spec's hints and the capability document. Both hosts set
``JOBMARKET_FETCH_PRIVATE=1`` because the LAN's addresses are private. Used by
``tests/network/`` and by ``make demo-network``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from jobmarket.chain.accounts import test_account
from jobmarket.chain.client import MarketClient
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.docker_engine import DEFAULT_IMAGE, docker_client, ensure_engine, ensure_image
from provider_node.dev.child import ProviderNode, register_provider
from support.kubo import KuboDaemon
from support.netns import Host, TestNetwork, test_network

REQUESTER_ACCOUNT = "TEST::0"
PROVIDER_ACCOUNT = "TEST::1"
_CLEAN = ("IPFS_", "JOBMARKET_")


@dataclass
class TwoHosts:
    network: TestNetwork
    requester_host: Host
    provider_host: Host
    anvil: Anvil
    kubo_a: KuboDaemon
    kubo_b: KuboDaemon
    w3: Web3
    client: MarketClient
    first_block: int
    node: ProviderNode

    def base_env(self, host: Host, kubo: KuboDaemon) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAN)}
        env.update(
            JOBMARKET_HOME=str(host.home),
            JOBMARKET_RPC_URL=self.anvil.url,
            IPFS_API=kubo.api_url,
            JOBMARKET_FETCH_PRIVATE="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def requester_env(self) -> dict[str, str]:
        env = self.base_env(self.requester_host, self.kubo_a)
        env.update(
            JOBMARKET_ACCOUNT=REQUESTER_ACCOUNT,
            JOBMARKET_IPFS_PEERS=" ".join(self.kubo_b.swarm_addresses()),
        )
        return env

    def requester(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``requester ARGS`` run on host A (its namespace, its home, its Kubo)."""
        return self.requester_host.run(
            [sys.executable, "-m", "requester", *args], env=self.requester_env(), timeout=timeout
        )

    def requester_json(self, *args: str, timeout: float = 300) -> Any:
        done = self.requester(*args, "--json", timeout=timeout)
        if done.returncode:
            raise AssertionError(f"requester {' '.join(args)} failed: {done.stderr.strip()}")
        return json.loads(done.stdout)

    @staticmethod
    def bitswap(kubo: KuboDaemon) -> dict[str, int]:
        """``ipfs bitswap stat``: blocks and bytes this daemon received from and sent to peers."""
        return json.loads(kubo.ipfs("bitswap", "stat", "--enc=json"))


@contextlib.contextmanager
def two_hosts(root: Path) -> Iterator[TwoHosts]:
    """The whole two-host world, torn down (node, daemons, anvil, namespaces) at the end."""
    ensure_engine()
    ensure_image(DEFAULT_IMAGE, docker_client())
    with contextlib.ExitStack() as stack:
        network = stack.enter_context(test_network(root))
        a = network.add_host("a")
        b = network.add_host("b")
        anvil = stack.enter_context(
            Anvil(host=network.chain_address, log_path=network.root / "anvil.log")
        )
        kubo_a = KuboDaemon(a.folder / "kubo", host=a.address, prefix=a.command([]))
        stack.callback(kubo_a.stop)
        kubo_a.start()
        kubo_b = KuboDaemon(b.folder / "kubo", host=b.address, prefix=b.command([]))
        stack.callback(kubo_b.stop)
        kubo_b.start()
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
        with _home(a.home):
            deployment = deploy_market(w3, test_account(0), arbiter=test_account(9).address)
        shutil.copy(a.home / "deployments.json", b.home / "deployments.json")
        client = MarketClient(w3, deployment.address, deployment)
        world_env = TwoHosts(network, a, b, anvil, kubo_a, kubo_b, w3, client,
                             deployment.block_number, None)  # type: ignore[arg-type]  # fmt: skip
        provider_env = world_env.base_env(b, kubo_b)
        # An input nobody serves is searched for 8 s (Kubo's share of this), not 24 s.
        provider_env["JOBMARKET_IPFS_TIMEOUT"] = "10s"
        register_provider(anvil.url, b.home, account=PROVIDER_ACCOUNT, stake="1 ether",
                          env=provider_env, prefix=b.command([]))  # fmt: skip
        node = ProviderNode(rpc_url=anvil.url, home=b.home, account=PROVIDER_ACCOUNT,
                            env=provider_env, prefix=b.command([]),
                            log_path=b.folder / "provider-node.log")  # fmt: skip
        stack.callback(node.stop)
        node.start()
        world_env.node = node
        yield world_env


@contextlib.contextmanager
def _home(home: Path) -> Iterator[None]:
    """``JOBMARKET_HOME`` for this process while deploying (where the record is written)."""
    saved = os.environ.get("JOBMARKET_HOME")
    os.environ["JOBMARKET_HOME"] = str(home)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JOBMARKET_HOME", None)
        else:
            os.environ["JOBMARKET_HOME"] = saved
