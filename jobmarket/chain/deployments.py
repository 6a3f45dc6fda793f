"""Where the JobMarket contract lives on each chain.

``ape run deploy`` records every deployment here, and the requester tools and provider node
look it up for the chain they are connected to. Files are searched in this order:

1. ``$JOBMARKET_DEPLOYMENTS`` (a file path) if set, else ``jobmarket.paths.home()/deployments.json``
   -- the user's own file, the one ``record`` writes;
2. ``deployments.json`` shipped inside this package, for public networks.

A file maps chain ids to deployments::

    {"version": 1, "deployments": {"31337": {"chain_id": 31337, "address": "0x...", ...}}}

A local anvil keeps its chain id (31337) across restarts but loses its contracts, so each
record also keeps the hash of block 0: a record whose genesis differs from the connected
chain's, or whose address holds no code, belongs to an earlier run and is refused.
"""

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmarket.errors import InvalidInput, NotFound
from jobmarket.fileio import locked, write_atomically
from jobmarket.paths import home

if TYPE_CHECKING:
    from ape.api import ProviderAPI
    from web3 import Web3

ENV_VAR = "JOBMARKET_DEPLOYMENTS"
FILE_NAME = "deployments.json"
PACKAGED_PATH = Path(__file__).with_name(FILE_NAME)
FORMAT_VERSION = 1
DEPLOY_HINT = "run `ape run deploy --network ...`"

# Constructor defaults, shared by `ape run deploy` and the development chain (jobmarket.devnet).
DEFAULT_ARBITER_WINDOW_S = 3 * 86_400
DEFAULT_COLLATERAL_BPS = 1_000
DEFAULT_ABANDON_SLASH_BPS = 2_000
MAX_WINDOW_S = 2**24 - 1


@dataclass(frozen=True)
class Deployment:
    """One JobMarket deployment on one chain."""

    chain_id: int
    address: str
    block_number: int
    tx_hash: str
    deployer: str
    arbiter: str
    # Hash of block 0, to tell a restarted local chain (same chain id) from the recorded one.
    genesis_hash: str
    # Unix time of the deploy block.
    timestamp: int

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> "Deployment":
        try:
            return cls(
                chain_id=int(data["chain_id"]),
                address=str(data["address"]),
                block_number=int(data["block_number"]),
                tx_hash=str(data["tx_hash"]),
                deployer=str(data["deployer"]),
                arbiter=str(data["arbiter"]),
                genesis_hash=str(data["genesis_hash"]),
                timestamp=int(data["timestamp"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInput(
                f"{source} has an incomplete deployment record ({err})",
                f"fix or delete the file, then {DEPLOY_HINT}",
            ) from err


def user_file() -> Path:
    """The deployments file this user reads first and ``record`` writes."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else home() / FILE_NAME


def read_file(path: Path) -> dict[int, Deployment]:
    """All deployments recorded in ``path`` by chain id; a missing file records none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:  # a folder, no permission: every tool would fail on it alike
        raise InvalidInput(
            f"cannot read the deployments file {path} ({err.strerror or err})",
            f"point {ENV_VAR} at a readable file, or fix or delete it",
        ) from None
    try:
        entries = json.loads(raw)["deployments"]  # undecodable bytes are a ValueError too
        if not isinstance(entries, dict):
            raise TypeError("'deployments' is not an object")
        chain_ids = [int(chain_id) for chain_id in entries]
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidInput(
            f"{path} is not a deployments file ({err})",
            f"fix or delete it, then {DEPLOY_HINT}",
        ) from err
    return {
        chain_id: Deployment.from_json(entry, path)
        for chain_id, entry in zip(chain_ids, entries.values(), strict=True)
    }


def lookup(chain_id: int) -> Deployment | None:
    """The deployment recorded for ``chain_id``: the user's file first, then the packaged one."""
    for path in (user_file(), PACKAGED_PATH):
        if (deployment := read_file(path).get(chain_id)) is not None:
            return deployment
    return None


def record(deployment: Deployment, path: Path | None = None) -> Path:
    """Record ``deployment`` (replacing any earlier one for its chain); returns the file written.

    Concurrent writers are serialised by a lock file, and the file is replaced atomically, so a
    reader never sees half a file.
    """
    path = path or user_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(path.name + ".lock")):
        deployments = read_file(path)
        deployments[deployment.chain_id] = deployment
        content = {
            "version": FORMAT_VERSION,
            "deployments": {str(cid): asdict(d) for cid, d in sorted(deployments.items())},
        }
        write_atomically(path, json.dumps(content, indent=2) + "\n")
    return path


def verified(provider: "ProviderAPI") -> Deployment:
    """The deployment for the chain an ape ``provider`` is connected to, checked to exist there.

    Raises NotFound when none is recorded, or when the record belongs to an earlier run of a
    local chain (different block 0, or no code at the address).
    """
    return _verified(
        provider.chain_id,
        lambda: _hex(provider.get_block(0).hash),
        lambda address: bool(provider.get_code(address)),
    )


def verified_web3(w3: "Web3") -> Deployment:
    """:func:`verified` for a web3.py connection (tools that do not load ape)."""
    return _verified(
        int(w3.eth.chain_id),
        lambda: _hex(w3.eth.get_block(0)["hash"]),
        lambda address: bool(w3.eth.get_code(address)),
    )


def _verified(
    chain_id: int, genesis_hash: Callable[[], str], has_code: Callable[[str], bool]
) -> Deployment:
    deployment = lookup(chain_id)
    if deployment is None:
        raise NotFound(f"no JobMarket deployment recorded for chain {chain_id}", DEPLOY_HINT)
    if genesis_hash() != deployment.genesis_hash.lower() or not has_code(deployment.address):
        raise NotFound(
            f"the JobMarket deployment recorded for chain {chain_id} at {deployment.address} "
            "belongs to an earlier run of this chain (anvil restarted?)",
            "run `ape run deploy` again",
        )
    return deployment


def _hex(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else "0x" + bytes(value).hex()).lower()
