"""Helpers shared by the requester tests: the session's chain and a provider driven by hand.

The provider side of the tests that need no running node (cancel, reclaim, errors, result
verification) is driven step by step through ``MarketClient`` with a test key, exactly the
transactions a provider node sends; round trips with a real ``provider-node run`` are in
``test_requester_roundtrip.py``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eth_account.signers.local import LocalAccount

from jobmarket.chain.client import MarketClient
from jobmarket.content.cid import DAG_PB, Cid
from jobmarket.content.dagpb import UnixFSType, encode_link, encode_node, encode_unixfs
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.importer import DEFAULT_CHUNK_SIZE as CHUNK
from jobmarket.content.importer import ImportedNode, Importer
from jobmarket.devnet import Anvil
from jobmarket.spec.capabilities import Hardware, ProviderCapabilities
from jobmarket.spec.job import Resources
from jobmarket.spec.result import AppliedLimits, FileRecord, RefusedFile, ResultManifest
from jobmarket.spec.result_dir import RESULT_PARAMS, build_result_dir, publish_result

STAKE = 10**18
IMAGE = "jobmarket/busybox:1"

# Roles (indices of the shared development mnemonic). TEST::0 is the CLI's local default.
REQUESTER, PROVIDER, OTHER_REQUESTER, POOR, DEPLOYER, ARBITER = 0, 1, 2, 3, 8, 9


@dataclass
class Chain:
    """The session's anvil and market, with the helpers tests need to move time and count."""

    anvil: Anvil
    client: MarketClient
    home: Path

    @property
    def url(self) -> str:
        return self.anvil.url

    def rpc(self, method: str, *params: object) -> object:
        return self.client.w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]

    def increase_time(self, seconds: int) -> None:
        """Move the chain clock forward and mine a block that shows it."""
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def nonce(self, address: str) -> int:
        return int(self.client.w3.eth.get_transaction_count(address, "pending"))

    def balance(self, address: str) -> int:
        return self.client.balance(address)

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", address, hex(wei))


# -- a provider driven by hand ---------------------------------------------------------------


CAPABILITIES = ProviderCapabilities(
    node_version="test-driver",
    hardware=Hardware(cpus=2, memory_mb=2048),
    max_resources=Resources(cpu=2, memory_mb=1024, disk_mb=2048),
    max_timeout_s=3600,
    price_floor_wei=10**9,
    accepted_images=["jobmarket/*"],
)

LIMITS = AppliedLimits(
    cpu=1,
    memory_mb=128,
    pids=64,
    timeout_s=60,
    network="none",
    read_only_root=True,
    user="65534:65534",
    tmpfs_mb=16,
    max_output_bytes=1 << 20,
    max_output_files=100,
)


@dataclass
class ScriptedProvider:
    """A provider account driven step by step through MarketClient (no node process)."""

    client: MarketClient
    account: LocalAccount
    store: EmbeddedStore

    @property
    def address(self) -> str:
        return self.account.address

    def register(self, capabilities: ProviderCapabilities = CAPABILITIES) -> Cid:
        cid = capabilities.publish(self.store)
        self.client.transact(self.account, "register", cid.digest, value=STAKE)
        return cid

    def claim(self, job_id: int) -> None:
        self.client.transact(self.account, "claim", job_id)

    def result_dir(
        self,
        job_id: int,
        folder: Path,
        files: dict[str, bytes],
        *,
        spec_cid: Cid | str | None = None,
        status: str = "succeeded",
        exit_code: int = 0,
        stderr: bytes = b"",
        refused: Sequence[RefusedFile] = (),
    ) -> Path:
        """A result folder laid out as a node lays it out (manifest, outputs, logs)."""
        outputs = folder / "raw-out"
        outputs.mkdir(parents=True)
        for name, data in files.items():
            (outputs / name).parent.mkdir(parents=True, exist_ok=True)
            (outputs / name).write_bytes(data)
        (folder / "stdout").write_bytes(b"done\n")
        (folder / "stderr").write_bytes(stderr)
        finished = datetime.now(UTC)
        build_result_dir(
            folder / "result",
            job_id=job_id,
            outputs_dir=outputs,
            stdout_log=folder / "stdout",
            stderr_log=folder / "stderr",
            status=status,  # type: ignore[arg-type]
            exit_code=exit_code,
            started_at=finished - timedelta(seconds=2),
            finished_at=finished,
            image_id="sha256:" + "ab" * 32,
            limits=LIMITS,
            refused=refused,
            spec_cid=spec_cid,
        )
        return folder / "result"

    def submit_forged(
        self, job_id: int, folder: Path, outputs: dict[bytes, tuple[ImportedNode, int]]
    ) -> Cid:
        """Submit a hostile result: ``outputs`` maps entry names to file DAGs (built by hand)
        and the size the manifest declares for each. The manifest, the logs and the on-chain
        digest are consistent with each other; only what the DAGs hold is a lie."""
        spec = Cid.from_digest(self.client.spec_digest(job_id))
        honest = self.result_dir(job_id, folder, {}, spec_cid=spec)
        manifest = ResultManifest.from_file(honest / "manifest.json")
        records = [
            # model_construct: a forger does not ask the schema first
            FileRecord.model_construct(
                path=name.decode(), size=size, sha256="0" * 64, cid=str(node.cid)
            )
            for name, (node, size) in outputs.items()
        ]
        forged = manifest.model_copy(update={"outputs": records})
        importer = Importer(RESULT_PARAMS, sink=self.store.blocks)
        root = importer.directory_node(
            [
                (b"logs", importer.add_directory(honest / "logs")),
                (b"manifest.json", importer.add_bytes(forged.to_json())),
                (b"outputs", importer.directory_node([(n, v[0]) for n, v in outputs.items()])),
            ]
        )
        self.client.transact(self.account, "submit_result", job_id, root.cid.digest)
        return root.cid

    def submit(self, job_id: int, result: Path) -> Cid:
        """Publish a result folder and submit its root digest."""
        cid = publish_result(self.store, result)
        self.client.transact(self.account, "submit_result", job_id, cid.digest)
        return cid

    def deliver(self, job_id: int, folder: Path, files: dict[str, bytes]) -> Cid:
        """Claim, run nothing, and submit ``files`` as the job's outputs."""
        self.claim(job_id)
        return self.deliver_claimed(job_id, folder, files)

    def deliver_claimed(self, job_id: int, folder: Path, files: dict[str, bytes]) -> Cid:
        """Submit ``files`` as the outputs of a job this provider claimed."""
        spec = self.client.spec_digest(job_id)
        result = self.result_dir(job_id, folder, files, spec_cid=Cid.from_digest(spec))
        return self.submit(job_id, result)


def file_bomb(store: EmbeddedStore, size: int = 64 << 30) -> ImportedNode:
    """A valid UnixFS file of ``size`` bytes (256 KiB times a square) in three blocks: one
    zero leaf, linked again and again by two levels of nodes."""
    leaf = Importer(RESULT_PARAMS, sink=store.blocks).add_bytes(b"\0" * CHUNK)
    leaves = size // CHUNK
    fanout = max(1, int(leaves**0.5))
    assert fanout * fanout * CHUNK == size, "size must be CHUNK * n * n"
    node = leaf
    for _ in range(2):
        filesize = node.filesize * fanout
        sizes = [node.filesize] * fanout
        data = encode_unixfs(UnixFSType.FILE, filesize=filesize, blocksizes=sizes)
        block = encode_node([encode_link(node.cid, b"", node.tsize)] * fanout, data)
        cid = Cid(1, DAG_PB, hashlib.sha256(block).digest())
        store.blocks.put(cid, (block,))
        node = ImportedNode(cid, len(block) + node.tsize * fanout, filesize)
    return node


class Background:
    """Runs provider steps in a thread while the test waits in the foreground."""

    def __init__(self, *steps: tuple[float, Callable[[], object]]) -> None:
        self.steps = steps
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for delay, step in self.steps:
                time.sleep(delay)
                step()
        except BaseException as err:  # reported by join()
            self.error = err

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.thread.join(timeout=60)
        if self.error is not None:
            raise self.error
