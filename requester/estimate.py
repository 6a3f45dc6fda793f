"""What a job will cost before it is posted: the price plus the gas of the requester's moves.

``post_job`` is estimated exactly (``eth_estimateGas`` on the current chain, with the real
terms). The requester's later moves cannot be estimated before the job exists, so they use
the steady-state figures ``make bench-gas`` measures; a test keeps them within 10 % of what the
contract really uses. All of it is priced at the current gas price.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from web3.exceptions import ContractLogicError

from jobmarket.chain.client import ZERO_ADDRESS, MarketClient, TransactionRefused, revert_reason
from jobmarket.chain.units import format_price
from jobmarket.spec.job import JobSpec
from requester.errors import explain_refusal
from requester.posting import JobTerms
from requester.providers import ProviderListing

#: Gas of the requester's transactions in steady state (``make bench-gas``).
TYPICAL_GAS = {
    "post_job": 76_648,
    "accept": 40_686,
    "dispute": 31_083,
    "cancel": 39_929,
    "reclaim": 51_174,
}

#: The ways a job can end for its requester, and the requester's transactions on each.
PATHS = {
    "accepted": ("post_job", "accept"),
    "disputed": ("post_job", "dispute"),
    "canceled": ("post_job", "cancel"),
    "reclaimed": ("post_job", "reclaim"),
}


@dataclass(frozen=True)
class CostEstimate:
    """Price and gas of a prospective job, priced at ``gas_price`` (wei per gas)."""

    terms: JobTerms
    gas_price: int
    gas: dict[str, int]
    post_gas_estimated: bool
    balance: int
    collateral: int
    providers: list[tuple[ProviderListing, list[str]]] = field(default_factory=list)

    def path_gas(self, path: str) -> int:
        return sum(self.gas[function] for function in PATHS[path])

    @property
    def expected_total(self) -> int:
        """Price plus the gas of posting and accepting: the cost of a job that goes well."""
        return self.terms.price + self.path_gas("accepted") * self.gas_price

    @property
    def enough_funds(self) -> bool:
        return self.balance >= self.expected_total

    @property
    def matching(self) -> list[ProviderListing]:
        return [provider for provider, refusals in self.providers if not refusals]

    def to_json(self) -> dict[str, Any]:
        return {
            "terms": self.terms.to_json(),
            "gas_price_wei": str(self.gas_price),
            "gas": dict(self.gas),
            "post_gas_estimated": self.post_gas_estimated,
            "paths": {
                path: {
                    "gas": self.path_gas(path),
                    "gas_cost_wei": str(self.path_gas(path) * self.gas_price),
                }
                for path in PATHS
            },
            "expected_total_wei": str(self.expected_total),
            "expected_total": format_price(self.expected_total),
            "balance_wei": str(self.balance),
            "enough_funds": self.enough_funds,
            "collateral_wei": str(self.collateral),
            "providers": [
                {"address": provider.address, "accepts": not refusals, "refusals": refusals}
                for provider, refusals in self.providers
            ],
        }


def _post_gas(
    client: MarketClient, sender: str, terms: JobTerms, spec: JobSpec | None, now: int
) -> int:
    """``post_job``'s gas on the current chain (the sender must hold the price, or the
    estimate fails without a reason)."""
    digest = spec.digest if spec is not None else hashlib.sha256(b"estimate").digest()
    call = client.contract.functions.post_job(
        digest,
        terms.designated or ZERO_ADDRESS,
        terms.claim_deadline(now),
        terms.work_timeout,
        terms.review_window,
    )
    try:
        return int(call.estimate_gas({"from": sender, "value": terms.price}))
    except ContractLogicError as err:
        raise explain_refusal(TransactionRefused("post_job", revert_reason(err))) from None


def estimate_costs(
    client: MarketClient,
    sender: str,
    terms: JobTerms,
    spec: JobSpec | None,
    providers: list[ProviderListing],
    now: int,
    collateral_bps: int,
) -> CostEstimate:
    """Price, gas per path and which of ``providers`` (the candidates) would take the job.

    ``post_job`` is estimated only when the balance covers the price; else its typical gas.
    """
    gas = dict(TYPICAL_GAS)
    balance = client.balance(sender)
    post_gas_estimated = balance >= terms.price
    if post_gas_estimated:
        gas["post_job"] = _post_gas(client, sender, terms, spec, now)
    collateral = terms.price * collateral_bps // 10_000
    judged = [
        (p, p.refusals(spec, terms.price, collateral) if spec is not None else [])
        for p in providers
    ]
    return CostEstimate(
        terms=terms,
        gas_price=int(client.w3.eth.gas_price),
        gas=gas,
        post_gas_estimated=post_gas_estimated,
        balance=balance,
        collateral=collateral,
        providers=judged,
    )
