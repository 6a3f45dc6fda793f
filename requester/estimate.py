"""What a job will cost before it is posted: the price plus the gas of the requester's moves.

The post is estimated exactly (``eth_estimateGas`` on the current chain, with the real
terms; on a token market ``post_job_permit`` with a signed permit, or ``post_job_token`` when
the allowance already covers the price), so a post the contract would refuse (a fee-on-transfer
token, say) is refused here with the contract's reason. The requester's later moves cannot be
estimated before the job exists, so they use the steady-state figures ``make bench-gas``
measures; a test keeps them within 10 % of what the contract really uses. All of it is priced
at the current gas price. The price is in the market's currency; gas is always ETH.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from web3.exceptions import ContractLogicError

from jobmarket.chain.client import MarketClient, TransactionRefused, revert_reason
from jobmarket.chain.units import amount_json, format_price
from jobmarket.spec.job import JobSpec
from requester.errors import explain_refusal
from requester.posting import JobTerms
from requester.providers import ProviderListing
from requester.signer import Signer, usable_permit

#: Gas of the requester's transactions in steady state (``make bench-gas``).
TYPICAL_GAS = {
    "post_job": 76_648,
    # A token market's post (6-decimal token): with a permit, or after an approve.
    "post_job_permit": 118_728,
    "post_job_token": 99_000,
    "approve": 46_000,
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
    """Price and gas of a prospective job, priced at ``gas_price`` (wei per gas).

    ``gas["post_job"]`` is the post whichever function makes it (``post_function``); a token
    market's approve, when the post needs one, adds ``gas["approve"]`` to every path.
    """

    terms: JobTerms
    gas_price: int
    gas: dict[str, int]
    post_gas_estimated: bool
    balance: int
    collateral: int
    providers: list[tuple[ProviderListing, list[str]]] = field(default_factory=list)
    post_function: str = "post_job"
    needs_approve: bool = False
    #: What the account holds of the market's token (None in an ETH market).
    token_balance: int | None = None

    def path_gas(self, path: str) -> int:
        approve = self.gas["approve"] if self.needs_approve else 0
        return approve + sum(self.gas[function] for function in PATHS[path])

    @property
    def expected_gas_cost(self) -> int:
        """Wei of gas for posting and accepting."""
        return self.path_gas("accepted") * self.gas_price

    @property
    def expected_total(self) -> int:
        """Price plus the gas of posting and accepting: the cost of a job that goes well
        (in wei; on a token market the gas only, the price being in tokens)."""
        if self.token_balance is not None:
            return self.expected_gas_cost
        return self.terms.price + self.expected_gas_cost

    @property
    def enough_funds(self) -> bool:
        if self.token_balance is not None and self.token_balance < self.terms.price:
            return False
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
            "post_function": self.post_function,
            "needs_approve": self.needs_approve,
            **(
                amount_json("token_balance", self.token_balance, self.terms.currency)
                if self.token_balance is not None
                else {}
            ),
            "balance_wei": str(self.balance),
            "enough_funds": self.enough_funds,
            **amount_json("collateral", self.collateral, self.terms.currency),
            "providers": [
                {"address": provider.address, "accepts": not refusals, "refusals": refusals}
                for provider, refusals in self.providers
            ],
        }


def _post_plan(
    client: MarketClient, signer: Signer | None, sender: str, terms: JobTerms, now: int
) -> tuple[str, list[int], tuple[int, int, bytes, bytes] | None]:
    """How the post would go: ``(function, approvals, permit)``, as ``Requester.post`` does
    it (``approvals``: the approve amounts it sends first)."""
    if terms.currency.is_eth:
        return "post_job", [], None
    permit = usable_permit(client, signer, sender, terms.price, terms.claim_deadline(now))
    if permit is not None:
        return "post_job_permit", [], permit
    return "post_job_token", client.approvals_needed(sender, terms.price), None


def require_post_after_approvals(
    client: MarketClient,
    sender: str,
    terms: JobTerms,
    digest: bytes,
    claim_deadline: int,
    approvals: list[int],
) -> None:
    """A post the contract would refuse even once approved (a fee-on-transfer token) is
    refused now, in one line, before an approve costs gas (the approves and the post are
    simulated together; an RPC that cannot simulate leaves it to the post's own check)."""
    function, args, _ = terms.post_call(client, digest, claim_deadline)
    reason = client.post_refusal_after_approvals(sender, approvals, function, args)
    if reason is not None:
        raise explain_refusal(TransactionRefused(function, reason))


def _post_gas(
    client: MarketClient,
    sender: str,
    terms: JobTerms,
    spec: JobSpec | None,
    permit: tuple[int, int, bytes, bytes] | None,
    now: int,
) -> int:
    """The post's gas on the current chain (the sender must hold the price and, for
    ``post_job_token``, have allowed it, or the estimate fails without a reason)."""
    digest = spec.digest if spec is not None else hashlib.sha256(b"estimate").digest()
    deadline = terms.claim_deadline(now)
    name, args, value = terms.post_call(client, digest, deadline, permit)
    call = getattr(client.contract.functions, name)(*args)
    try:
        return int(call.estimate_gas({"from": sender, "value": value}))
    except ContractLogicError as err:
        raise explain_refusal(TransactionRefused(name, revert_reason(err))) from None


def estimate_costs(
    client: MarketClient,
    sender: str,
    terms: JobTerms,
    spec: JobSpec | None,
    providers: list[ProviderListing],
    now: int,
    collateral_bps: int,
    signer: Signer | None = None,
) -> CostEstimate:
    """Price, gas per path and which of ``providers`` (the candidates) would take the job.

    The post is estimated only when the balance covers the price (and, after an approve
    still to send, it cannot be); else its typical gas.
    """
    gas = dict(TYPICAL_GAS)
    balance = client.balance(sender)
    token_balance = None if terms.currency.is_eth else client.currency_balance(sender)
    function, approvals, permit = _post_plan(client, signer, sender, terms, now)
    needs_approve = bool(approvals)
    covered = token_balance if token_balance is not None else balance
    post_gas_estimated = covered >= terms.price and not needs_approve
    if needs_approve and covered >= terms.price:
        digest = spec.digest if spec is not None else hashlib.sha256(b"estimate").digest()
        require_post_after_approvals(
            client, sender, terms, digest, terms.claim_deadline(now), approvals
        )
    gas["post_job"] = (
        _post_gas(client, sender, terms, spec, permit, now)
        if post_gas_estimated
        else TYPICAL_GAS[function]
    )
    collateral = terms.price * collateral_bps // 10_000
    judged = [
        (
            p,
            p.refusals(spec, terms.price, collateral) if spec is not None else [],
        )
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
        post_function=function,
        needs_approve=needs_approve,
        token_balance=token_balance,
    )
