"""The test world of the provider node's suite: a market on anvil seen from the requester's side,
and probes of the chain and of Docker that tests assert on (imported by conftest and tests)."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from eth_account.signers.local import LocalAccount
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.node import ProviderNode

from jobmarket.chain.accounts import test_account
from jobmarket.chain.client import ZERO_ADDRESS, JobView, MarketClient
from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.devnet import Anvil, free_port
from jobmarket.docker_engine import DEFAULT_IMAGE
from jobmarket.spec.job import JobSpec
from jobmarket.spec.result import ResultManifest
from jobmarket.spec.result_dir import fetch_result
from provider_node.executor import DockerExecutor

PRICE = 10**16  # 0.01 ether
REQUESTER = test_account(0)
PROVIDER = "TEST::1"
PROVIDER_ADDRESS = test_account(1).address
SELECTORS = {
    "claim": Web3.keccak(text="claim(uint256)")[:4],
    "submit_result": Web3.keccak(text="submit_result(uint256,bytes32)")[:4],
    "abandon": Web3.keccak(text="abandon(uint256)")[:4],
    "finalize": Web3.keccak(text="finalize(uint256)")[:4],
}


@dataclass
class Market:
    """A JobMarket on its own anvil, seen from the requester's side."""

    anvil: Anvil
    home: Path
    w3: Web3
    client: MarketClient
    store: EmbeddedStore
    first_block: int

    @property
    def url(self) -> str:
        return self.anvil.url

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def publish(self, spec: JobSpec) -> bytes:
        return spec.publish(self.store).digest

    def post(
        self,
        spec: JobSpec | None = None,
        *,
        digest: bytes | None = None,
        price: int = PRICE,
        claim_window: int = 600,
        work_timeout: int = 1200,
        review_window: int = 3600,
        designated: str | None = None,
        requester: LocalAccount = REQUESTER,
    ) -> int:
        """Publish ``spec`` (or use a bare ``digest``) and post it; returns the job id."""
        spec_digest = digest if digest is not None else self.publish(spec)  # type: ignore[arg-type]
        receipt = self.client.transact(
            requester,
            "post_job",
            spec_digest,
            designated or ZERO_ADDRESS,
            self.now() + claim_window,
            work_timeout,
            review_window,
            value=price,
        )
        [posted] = [
            e for e in map(self.client.decode, receipt["logs"]) if e and e.job_id is not None
        ]
        return int(posted.job_id)  # type: ignore[arg-type]

    def job(self, job_id: int) -> JobView:
        return self.client.job(job_id)

    def accept(self, job_id: int, requester: LocalAccount = REQUESTER) -> None:
        self.client.transact(requester, "accept", job_id)

    def result_digest(self, job_id: int) -> bytes:
        event = self.client.job_event(job_id, "ResultSubmitted")
        assert event is not None, f"job {job_id} has no submitted result"
        return bytes(event.args["result_digest"])

    def fetch(self, job_id: int, destination: Path) -> ResultManifest:
        """The requester's download: every file verified against the on-chain digest."""
        digest = self.result_digest(job_id)
        return fetch_result(
            self.store, Cid.from_digest(digest, DAG_PB), digest, destination, job_id=job_id
        )

    def calls(self, function: str, sender: str, job_id: int | None = None) -> list[dict]:
        """Every transaction ``sender`` sent to the market calling ``function`` (mined or
        reverted), found by function selector in the blocks themselves."""
        found = []
        selector = SELECTORS[function]
        sender = Web3.to_checksum_address(sender)
        for number in range(self.first_block, self.w3.eth.block_number + 1):
            for tx in self.w3.eth.get_block(number, full_transactions=True)["transactions"]:
                data = bytes(tx["input"])
                if tx["to"] != self.client.address or tx["from"] != sender:
                    continue
                if data[:4] != selector:
                    continue
                if job_id is not None and int.from_bytes(data[4:36], "big") != job_id:
                    continue
                found.append(dict(tx))
        return found

    def mine(self, blocks: int = 1) -> None:
        self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


def remove_node_containers(market: Market, docker_api: docker.DockerClient) -> None:
    """Remove every job container the module's nodes left (there should be none)."""
    nodes = market.home / "nodes"
    for folder in nodes.iterdir() if nodes.is_dir() else []:
        executor = DockerExecutor(folder.name, client=docker_api, work_root=folder / "jobs")
        for job in executor.find_job_containers():
            executor.remove(job, purge=True)
        executor.close()


def container_name(node: ProviderNode, job_id: int) -> str:
    return f"jobmarket-{node_id(node)}-{job_id}"


_NODE_IDS: dict[tuple[str, str], str] = {}


def node_id(node: ProviderNode) -> str:
    key = (str(node.home), node.account)
    if key not in _NODE_IDS:
        _NODE_IDS[key] = node.status()["node_id"]
    return _NODE_IDS[key]


def container_starts(docker_api: docker.DockerClient, name: str, since: float) -> int:
    """How many times Docker started the container ``name`` since ``since`` (its event log)."""
    events = docker_api.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "start", "container": name},
        decode=True,
    )
    return sum(1 for _ in events)


def shell_job(script: str, **fields: object) -> JobSpec:
    """A job spec running ``sh -c script`` in the busybox image."""
    return JobSpec(image=DEFAULT_IMAGE, command=["sh", "-c", script], **fields)  # type: ignore[arg-type]


class TcpRelay:
    """A TCP relay in front of anvil's port that can be switched off and on: a real RPC outage
    (connections refused and cut) for a node that talks to anvil through it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._running = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpRelay:
        with self._lock:
            self._running = True
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def stop(self) -> None:
        """The outage: refuse new connections and cut the open ones."""
        with self._lock:
            self._running = False
            if self._server is not None:
                self._server.close()
                self._server = None
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # stopped
            with self._lock:
                if not self._running:  # accepted just as the outage began: refuse it too
                    client.close()
                    continue
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
