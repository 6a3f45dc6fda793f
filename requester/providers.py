"""The registered providers: stake, track record and capability document, checked.

Providers announce themselves with ``ProviderRegistered(account, capabilities)``; the latest
event per account names its current capability document by digest. The document is fetched
from the content store and verified against that digest; when it cannot be (not in the store,
store unreachable, invalid), the listing says why instead of failing, since stake and track
record are still worth showing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobmarket.chain.client import MarketClient
from jobmarket.chain.units import ETH, Currency, amount_json
from jobmarket.content.cid import RAW, Cid
from jobmarket.content.store import ContentStore
from jobmarket.errors import UserError
from jobmarket.spec.capabilities import ProviderCapabilities
from jobmarket.spec.job import JobSpec
from requester.history import scan


@dataclass(frozen=True)
class ProviderListing:
    """One provider as the market and its capability document describe it (amounts in the
    market's smallest unit: wei, or token units)."""

    address: str
    registered: bool
    stake: int
    locked: int
    completed: int
    slashed: int
    capabilities_cid: Cid
    capabilities: ProviderCapabilities | None
    capabilities_problem: str | None
    currency: Currency = ETH

    @property
    def free_stake(self) -> int:
        return self.stake - self.locked

    def refusals(
        self, spec: JobSpec, price: int, collateral: int, *, unknown_ok: bool = False
    ) -> list[str]:
        """Why this provider would not take ``spec`` at ``price`` (empty: it would).

        Without a capability document only stake and registration are judged; that counts as
        a refusal unless ``unknown_ok``.
        """
        reasons = []
        if not self.registered:
            reasons.append("not registered")
        if self.free_stake < collateral:
            reasons.append(
                f"free stake {self.currency.format(self.free_stake)} is below the collateral "
                f"{self.currency.format(collateral)}"
            )
        if self.capabilities is None:
            if not unknown_ok:
                reasons.append(f"capabilities unknown ({self.capabilities_problem})")
        else:
            reasons.extend(self.capabilities.accepts(spec, price, currency=self.currency))
        return reasons

    def to_json(self) -> dict[str, Any]:
        caps = self.capabilities
        return {
            "address": self.address,
            "registered": self.registered,
            **amount_json("stake", self.stake, self.currency),
            **amount_json("locked", self.locked, self.currency),
            **amount_json("free_stake", self.free_stake, self.currency),
            "completed": self.completed,
            "slashed": self.slashed,
            "capabilities_cid": str(self.capabilities_cid),
            "capabilities": caps.model_dump(mode="json") if caps else None,
            "capabilities_problem": self.capabilities_problem,
        }


def _fetch(
    store: ContentStore | None, digest: bytes
) -> tuple[ProviderCapabilities | None, str | None]:
    if store is None:
        return None, "no content store"
    try:
        return ProviderCapabilities.fetch(store, digest), None
    except UserError as err:
        return None, err.problem


def _registrations(client: MarketClient) -> dict[str, bytes]:
    """Every account that ever registered, with the digest of its latest capability document."""
    head = client.w3.eth.block_number
    return {
        event.args["account"]: bytes(event.args["capabilities"])
        for event in scan(client, client.start_block, head, names=["ProviderRegistered"])
    }


def _listing(
    client: MarketClient, store: ContentStore | None, address: str, digest: bytes
) -> ProviderListing:
    info = client.provider_info(address)
    capabilities, problem = _fetch(store, digest)
    return ProviderListing(
        address=address,
        registered=info.registered,
        stake=info.stake,
        locked=info.locked,
        completed=info.completed,
        slashed=info.slashed,
        capabilities_cid=Cid.from_digest(digest, RAW),
        capabilities=capabilities,
        capabilities_problem=problem,
        currency=client.currency,
    )


def list_providers(client: MarketClient, store: ContentStore | None) -> list[ProviderListing]:
    """Every account that ever registered, most completed jobs first."""
    listings = [
        _listing(client, store, address, digest)
        for address, digest in _registrations(client).items()
    ]
    return sorted(listings, key=lambda p: (-p.completed, p.slashed, p.address))


def find_provider(
    client: MarketClient, store: ContentStore | None, address: str
) -> ProviderListing | None:
    """One provider's listing (None if it never registered), without fetching the others'
    capability documents: a post or estimate for a designated provider judges only that one."""
    digest = _registrations(client).get(address)
    return None if digest is None else _listing(client, store, address, digest)
