"""Deploy JobMarket and record it for the connected chain.

    ape run deploy --network ethereum:local:foundry
    ape run deploy --network ethereum:sepolia:node --account deployer --arbiter 0xABC...
    ape run deploy --network ethereum:local:foundry --token 0xTOKEN   # a market paying in a token

On a local network the deployer defaults to test account 0 and the arbiter to test account 1.
The deployment is recorded (see ``jobmarket/chain/deployments.py``) in ``$JOBMARKET_DEPLOYMENTS``
or ``$JOBMARKET_HOME/deployments.json``, where the requester tools and provider nodes find it.
"""

import click
from ape import chain, project
from ape.api import AccountAPI, NetworkAPI, ProviderAPI
from ape.cli import ConnectedProviderCommand, account_option
from ape.exceptions import ApeException
from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes

from jobmarket.chain import artifact, deployments
from jobmarket.chain.client import ZERO_ADDRESS
from jobmarket.chain.deployments import (
    DEFAULT_ABANDON_SLASH_BPS,
    DEFAULT_ARBITER_WINDOW_S,
    DEFAULT_COLLATERAL_BPS,
    MAX_WINDOW_S,
)
from jobmarket.chain.units import WEI_PER_ETHER
from jobmarket.errors import UserError


def _choose_deployer(network: NetworkAPI, account: AccountAPI | None) -> AccountAPI:
    from ape import accounts

    if account is not None:
        return account
    if network.is_local:
        return accounts.test_accounts[0]
    raise click.UsageError("pass --account ALIAS on a public network (see `ape accounts list`)")


def _choose_arbiter(network: NetworkAPI, arbiter: str | None) -> str:
    from ape import accounts

    if arbiter:
        return arbiter
    if network.is_local:
        return accounts.test_accounts[1].address
    raise click.UsageError("pass --arbiter ADDRESS on a public network")


def _check_token(token: str) -> str:
    """The token's checksummed address; refused before any gas is spent if it is not one."""
    if not is_address(token):
        raise click.BadParameter(f"{token!r} is not an address", param_hint="--token")
    address = to_checksum_address(token)
    if address != ZERO_ADDRESS and not chain.provider.get_code(address):
        raise click.BadParameter(
            f"{address} holds no contract on this chain (deploy the token first)",
            param_hint="--token",
        )
    return address


def _check_record_file() -> None:
    """Refuse before spending gas when the deployment could not be recorded afterwards."""
    try:
        deployments.read_file(deployments.user_file())
    except UserError as err:
        raise click.ClickException(err.message) from None


def _check_bundle_is_current() -> None:
    """Tools talk to the contract through the bundled ABI: refuse to deploy different code."""
    compiled = artifact.bundle(project.JobMarket.contract_type)
    if compiled != artifact.bundle_json():
        raise click.ClickException(
            "contracts/JobMarket.vy differs from the bundled jobmarket/chain/JobMarket.json; "
            "run `python -m jobmarket.chain.export` first"
        )


@click.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@click.option("--arbiter", help="Account that settles disputes [local default: test account 1].")
@click.option(
    "--arbiter-window",
    type=click.IntRange(1, MAX_WINDOW_S),
    default=DEFAULT_ARBITER_WINDOW_S,
    show_default=True,
    help="Seconds the arbiter has to settle a dispute.",
)
@click.option(
    "--collateral-bps",
    type=click.IntRange(0, 10_000),
    default=DEFAULT_COLLATERAL_BPS,
    show_default=True,
    help="Stake a claim locks, in basis points of the price.",
)
@click.option(
    "--abandon-slash-bps",
    type=click.IntRange(0, 10_000),
    default=DEFAULT_ABANDON_SLASH_BPS,
    show_default=True,
    help="Share of the collateral an abandoning provider loses, in basis points.",
)
@click.option(
    "--token",
    default=ZERO_ADDRESS,
    show_default="zero address: ETH",
    help="ERC-20 token the market escrows, stakes and pays in (fixed for the market's life).",
)
def cli(
    network: NetworkAPI,
    provider: ProviderAPI,
    account: AccountAPI | None,
    arbiter: str | None,
    arbiter_window: int,
    collateral_bps: int,
    abandon_slash_bps: int,
    token: str,
) -> None:
    """Deploy JobMarket to the connected chain and record where it is."""
    deployer = _choose_deployer(network, account)
    arbiter_address = _choose_arbiter(network, arbiter)
    token_address = _check_token(token)
    _check_bundle_is_current()
    _check_record_file()
    try:
        market = deployer.deploy(
            project.JobMarket,
            arbiter_address,
            arbiter_window,
            collateral_bps,
            abandon_slash_bps,
            token_address,
        )
    except ApeException as err:
        raise click.ClickException(f"the deployment failed: {err}") from err

    receipt = chain.get_receipt(market.txn_hash)
    deployment = deployments.Deployment(
        chain_id=provider.chain_id,
        address=market.address,
        block_number=receipt.block_number,
        tx_hash=HexBytes(market.txn_hash).to_0x_hex(),
        deployer=deployer.address,
        arbiter=arbiter_address,
        genesis_hash=HexBytes(chain.blocks[0].hash).to_0x_hex(),
        timestamp=chain.blocks[receipt.block_number].timestamp,
    )
    try:
        path = deployments.record(deployment)
    except (UserError, OSError) as err:
        problem = err.message if isinstance(err, UserError) else str(err)
        raise click.ClickException(
            f"JobMarket was deployed at {market.address} (block {receipt.block_number}) but not "
            f"recorded: {problem}"
        ) from None
    click.echo(f"JobMarket deployed at {market.address} on chain {provider.chain_id}")
    click.echo(f"  block {receipt.block_number}, gas {receipt.gas_used:,}")
    click.echo(f"  deployer {deployer.address}, arbiter {arbiter_address}")
    click.echo(
        f"  collateral {collateral_bps} bps, abandon slash {abandon_slash_bps} bps, "
        f"arbiter window {arbiter_window} s, fee 0 (owner: deployer)"
    )
    if token_address == ZERO_ADDRESS:
        click.echo("  pays in ETH (prices in whole gwei)")
    else:
        click.echo(f"  pays in the token {token_address} (price unit {market.price_unit()})")
    click.echo(f"  deployer balance {deployer.balance / WEI_PER_ETHER:.4f} ETH")
    click.echo(f"recorded in {path}")
