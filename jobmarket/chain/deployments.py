"""Where the JobMarket contract lives on each chain.

``ape run deploy`` records every deployment here, and the requester tools and provider node
look it up for the chain they are connected to. Files are searched in this order:

1. ``$JOBMARKET_DEPLOYMENTS`` (a file path) if set, else ``jobmarket.paths.home()/deployments.json``
   -- the user's own file, the one ``record`` writes;
2. ``deployments.json`` shipped inside this package, for public networks.

A file lists deployments, oldest first::

    {"version": 2, "deployments": [{"chain_id": 31337, "address": "0x...", ...}, ...]}

(version 1 files, one record per chain id, are still read). Every anvil is chain 31337, and a
chain can hold several markets, so a record is identified by its chain id, the hash of its
chain's block 0 and its address: recording a deployment never replaces another chain's or
another market's. A tool connected to a chain uses the market named by ``--market`` (or
``$JOBMARKET_MARKET``), else the newest record whose block 0 is the chain's and whose address
holds code. A record whose block 0 differs was made on another chain with the same id (a
restarted or second anvil); one without code at its address outlived its chain's state.
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
MARKET_ENV = "JOBMARKET_MARKET"
FILE_NAME = "deployments.json"
PACKAGED_PATH = Path(__file__).with_name(FILE_NAME)
FORMAT_VERSION = 2
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
    """The newest deployment recorded in ``path`` for each chain id."""
    return {deployment.chain_id: deployment for deployment in read_all(path)}


def read_all(path: Path) -> list[Deployment]:
    """Every deployment recorded in ``path``, oldest first; a missing file records none."""
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
        if isinstance(entries, dict):  # version 1: one record per chain id
            for chain_id, entry in entries.items():
                if int(chain_id) != int(entry["chain_id"]):
                    raise ValueError(f"record under {chain_id} is for chain {entry['chain_id']}")
            entries = list(entries.values())
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("'deployments' is not a list of records")
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidInput(
            f"{path} is not a deployments file ({err})",
            f"fix or delete it, then {DEPLOY_HINT}",
        ) from err
    return [Deployment.from_json(entry, path) for entry in entries]


def _same_market(a: Deployment, b: Deployment) -> bool:
    return (a.chain_id, a.genesis_hash.lower(), a.address.lower()) == (
        b.chain_id,
        b.genesis_hash.lower(),
        b.address.lower(),
    )


def candidates(chain_id: int) -> list[Deployment]:
    """Every deployment recorded for ``chain_id``, newest first (the user's file first)."""
    found = []
    for path in (user_file(), PACKAGED_PATH):
        found.extend(d for d in reversed(read_all(path)) if d.chain_id == chain_id)
    return found


def lookup(chain_id: int) -> Deployment | None:
    """The newest deployment recorded for ``chain_id``: the user's file first, then the
    packaged one."""
    found = candidates(chain_id)
    return found[0] if found else None


def record(deployment: Deployment, path: Path | None = None) -> Path:
    """Record ``deployment`` (replacing only an earlier record of the same market on the same
    chain: same chain id, block 0 and address); returns the file written.

    Concurrent writers are serialised by a lock file, and the file is replaced atomically, so a
    reader never sees half a file.
    """
    path = path or user_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(path.name + ".lock")):
        kept = [d for d in read_all(path) if not _same_market(d, deployment)]
        content = {
            "version": FORMAT_VERSION,
            "deployments": [asdict(d) for d in [*kept, deployment]],
        }
        write_atomically(path, json.dumps(content, indent=2) + "\n")
    return path


def verified(provider: "ProviderAPI", market: str | None = None) -> Deployment:
    """The deployment for the chain an ape ``provider`` is connected to, checked to exist there.

    ``market`` (else ``$JOBMARKET_MARKET``) names the market's address; without it the newest
    live record is used. Raises NotFound when none is recorded or the records are stale.
    """
    return _verified(
        provider.chain_id,
        lambda: _hex(provider.get_block(0).hash),
        lambda address: bool(provider.get_code(address)),
        market,
    )


def verified_web3(w3: "Web3", market: str | None = None) -> Deployment:
    """:func:`verified` for a web3.py connection (tools that do not load ape)."""
    return _verified(
        int(w3.eth.chain_id),
        lambda: _hex(w3.eth.get_block(0)["hash"]),
        lambda address: bool(w3.eth.get_code(address)),
        market,
    )


def _check_market_address(market: str) -> str:
    text = market.strip()
    if len(text) != 42 or not text.startswith("0x"):
        raise InvalidInput(f"malformed market address {market!r}", "give 0x and 40 hex digits")
    try:
        int(text[2:], 16)
    except ValueError:
        raise InvalidInput(
            f"malformed market address {market!r}", "give 0x and 40 hex digits"
        ) from None
    return text


def _verified(
    chain_id: int,
    genesis_hash: Callable[[], str],
    has_code: Callable[[str], bool],
    market: str | None = None,
) -> Deployment:
    market = market or os.environ.get(MARKET_ENV) or None
    records = candidates(chain_id)
    genesis = genesis_hash()
    here = [d for d in records if d.genesis_hash.lower() == genesis]
    if market is not None:
        address = _check_market_address(market)
        named = [d for d in here if d.address.lower() == address.lower()]
        if not has_code(address):
            raise NotFound(
                f"there is no contract at {address} on chain {chain_id}",
                "check --market (or $JOBMARKET_MARKET); `ape run deploy` prints the address",
            )
        if named:
            return named[0]
        # Not recorded here (deployed by someone else): events are read from block 0.
        return Deployment(chain_id, address, 0, "", "", "", genesis, 0)
    for deployment in here:
        if has_code(deployment.address):
            return deployment
    if here:
        raise NotFound(
            f"the JobMarket recorded for chain {chain_id} at {here[0].address} has no code "
            "there any more: this chain's state was reset or reverted since it was deployed",
            f"{DEPLOY_HINT} again",
        )
    if records:
        listed = ", ".join(d.address for d in records[:3])
        raise NotFound(
            f"no JobMarket is recorded for this chain: the {len(records)} record(s) for chain "
            f"id {chain_id} ({listed}) were made on another chain with the same id (its block 0 "
            "differs: a restarted anvil, or another anvil — every anvil is chain 31337)",
            f"{DEPLOY_HINT} on this chain (earlier records are kept), or pass --market ADDRESS",
        )
    raise NotFound(f"no JobMarket deployment recorded for chain {chain_id}", DEPLOY_HINT)


def _hex(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else "0x" + bytes(value).hex()).lower()
