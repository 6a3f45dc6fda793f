"""The JobMarket contract of the connected chain, as an ape ``ContractInstance``.

For code that runs inside ape (scripts, tests, the ape console)::

    from ape import networks
    from jobmarket.chain.market import job_market

    with networks.parse_network_choice("ethereum:local:foundry") as provider:
        market = job_market(provider)
        print(market.job_count())

The contract type is the one bundled with the package (``jobmarket/chain/JobMarket.json``), so
this works outside the ape project; the address comes from the recorded deployment. Tools that
avoid loading ape use :mod:`jobmarket.chain.client` (web3.py) instead.
"""

from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from jobmarket.chain import artifact, deployments

if TYPE_CHECKING:
    from ape.api import ProviderAPI
    from ape.contracts import ContractInstance


def job_market(provider: "ProviderAPI | None" = None) -> "ContractInstance":
    """The recorded JobMarket of the chain ``provider`` (default: ape's active one) is on.

    Raises NotFound when no deployment is recorded for that chain or the record is stale.
    Transactions and calls go through ape's active provider, as everywhere in ape.
    """
    from ape import networks
    from ape.contracts import ContractInstance

    provider = provider or networks.provider
    deployment = deployments.verified(provider)
    return ContractInstance(
        to_checksum_address(deployment.address),
        contract_type=artifact.contract_type(),
        txn_hash=deployment.tx_hash,
    )
