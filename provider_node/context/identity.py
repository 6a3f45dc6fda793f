"""Who this node is: one account on one market of one chain, and where its state lives.

A node's state (journal, job folders, staged inputs) sits in
``$JOBMARKET_HOME/nodes/<node id>/``. The id names the chain, the account and the market
deployment (its address and the chain's genesis), so a restarted local chain or a second
provider account never picks up another node's journal, and container names
(``jobmarket-<node id>-<job id>``) never collide between nodes sharing one Docker engine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from jobmarket.chain.client import MarketClient
from jobmarket.chain.deployments import Deployment
from jobmarket.paths import home

JOURNAL_NAME = "journal.sqlite3"
RUN_LOCK_NAME = "run.lock"
SIGNER_LOCK_NAME = "signer.lock"


@dataclass(frozen=True)
class NodeIdentity:
    chain_id: int
    market: str
    genesis_hash: str
    account: str

    @property
    def node_id(self) -> str:
        deployment = hashlib.sha256(f"{self.genesis_hash}:{self.market}".lower().encode())
        return f"{self.chain_id}-{self.account[2:10].lower()}-{deployment.hexdigest()[:8]}"

    @property
    def folder(self) -> Path:
        return home() / "nodes" / self.node_id

    @property
    def journal_path(self) -> Path:
        return self.folder / JOURNAL_NAME

    @property
    def signer_lock_path(self) -> Path:
        """Held while a nonce is chosen and its transaction journaled and sent."""
        return self.folder / SIGNER_LOCK_NAME

    @property
    def jobs_folder(self) -> Path:
        """The executor's work root (one folder per job container)."""
        return self.folder / "jobs"

    @property
    def staging_folder(self) -> Path:
        return self.folder / "inputs"

    @property
    def results_folder(self) -> Path:
        return self.folder / "results"

    @property
    def downloads_folder(self) -> Path:
        """URL inputs, by sha256, from their download until staged (or the job declined)."""
        return self.folder / "downloads"

    def job_key(self, job_id: int) -> str:
        """The executor key (and container name suffix) of one job."""
        return f"{self.node_id}-{job_id}"

    def job_id_of(self, key: str) -> int | None:
        return _job_id_after(f"{self.node_id}-", key)

    @property
    def inputs_hold_prefix(self) -> str:
        """What the names of this node's input holds (see :meth:`inputs_hold`) start with."""
        return f"inputs-{self.node_id}-"

    def inputs_hold(self, job_id: int) -> str:
        """The store hold that keeps a job's inputs from garbage collection until staged."""
        return f"{self.inputs_hold_prefix}{job_id}"

    def job_of_inputs_hold(self, name: str) -> int | None:
        return _job_id_after(self.inputs_hold_prefix, name)

    def as_meta(self) -> dict[str, str]:
        return {
            "chain_id": str(self.chain_id),
            "market": self.market,
            "genesis_hash": self.genesis_hash,
            "account": self.account,
        }

    @classmethod
    def of(cls, client: MarketClient, account: str) -> NodeIdentity:
        deployment: Deployment | None = client.deployment
        genesis = deployment.genesis_hash if deployment else "unknown"
        return cls(client.chain_id, client.address, genesis.lower(), account)


def _job_id_after(prefix: str, name: str) -> int | None:
    """The job id that ends ``name`` after ``prefix`` (None: another name)."""
    tail = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None
