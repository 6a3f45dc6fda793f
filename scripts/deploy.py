"""Deploy JobMarket and record it for the connected chain.

    ape run deploy --network ethereum:local:foundry
    ape run deploy --network ethereum:sepolia:node --account deployer --arbiter 0xABC...
    ape run deploy --network ethereum:local:foundry --token 0xTOKEN   # a market paying in a token

On a local network the deployer defaults to test account 0 and the arbiter to test account 9
(not 1: that is the default provider account, which must not judge its own disputes).
The deployment is recorded (see ``jobmarket/chain/deployments.py``) in ``$JOBMARKET_DEPLOYMENTS``
or ``$JOBMARKET_HOME/deployments.json``, where the requester tools and provider nodes find it.
"""

import warnings

# ape's pydantic models warn at import about a field definition (nothing a user can act on).
warnings.filterwarnings("ignore", message=".*IncompleteFieldDefinition.*")
warnings.filterwarnings("ignore", category=UserWarning, module="pydantic.*")

import click  # noqa: E402
from ape import chain, project  # noqa: E402
from ape.api import AccountAPI, NetworkAPI, ProviderAPI  # noqa: E402
from ape.cli import ConnectedProviderCommand, account_option  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_utils import is_address, to_checksum_address  # noqa: E402

from jobmarket.chain import artifact, deployments  # noqa: E402
from jobmarket.chain.client import ZERO_ADDRESS  # noqa: E402
from jobmarket.chain.deployments import (  # noqa: E402
    DEFAULT_ABANDON_SLASH_BPS,
    DEFAULT_ARBITER_WINDOW_S,
    DEFAULT_COLLATERAL_BPS,
    MAX_WINDOW_S,
)
from jobmarket.chain.units import WEI_PER_ETHER  # noqa: E402
from jobmarket.devnet import deploy_market  # noqa: E402
from jobmarket.errors import UserError  # noqa: E402
from requester.ape_support import ApeSigner  # noqa: E402
from requester.signer import KeySigner  # noqa: E402

LOCAL_ARBITER_INDEX = 9


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
        return accounts.test_accounts[LOCAL_ARBITER_INDEX].address
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
    if not artifact.same_code(compiled, artifact.bundle_json()):
        raise click.ClickException(
            "contracts/JobMarket.vy differs from the bundled jobmarket/chain/JobMarket.json; "
            "run `python -m jobmarket.chain.export` first"
        )


@click.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@click.option("--arbiter", help="Account that settles disputes [local default: test account 9].")
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
    # Deployed with web3 from the bundled artifact (checked equal to the compiled contract):
    # the receipt is awaited however the chain mines, on each transaction or on an interval.
    key = getattr(deployer, "private_key", None)  # ape's test accounts expose theirs
    signer = KeySigner(Account.from_key(key)) if key else ApeSigner(deployer, provider)
    try:
        deployment = deploy_market(
            provider.web3,  # type: ignore[attr-defined]
            None,
            arbiter=arbiter_address,
            arbiter_window=arbiter_window,
            collateral_bps=collateral_bps,
            abandon_slash_bps=abandon_slash_bps,
            token=token_address,
            record=False,
            sender=signer.address,
            sign=signer.sign,  # type: ignore[arg-type]
        )
    except UserError as err:
        raise click.ClickException(f"the deployment failed: {err.message}") from None
    receipt = provider.web3.eth.get_transaction_receipt(deployment.tx_hash)  # type: ignore[attr-defined]
    try:
        path = deployments.record(deployment)
    except (UserError, OSError) as err:
        problem = err.message if isinstance(err, UserError) else str(err)
        raise click.ClickException(
            f"JobMarket was deployed at {deployment.address} (block {deployment.block_number}) "
            "but not "
            f"recorded: {problem}"
        ) from None
    click.echo(f"JobMarket deployed at {deployment.address} on chain {provider.chain_id}")
    click.echo(f"  block {deployment.block_number}, gas {receipt['gasUsed']:,}")
    click.echo(f"  deployer {deployer.address}, arbiter {arbiter_address}")
    click.echo(
        f"  collateral {collateral_bps} bps, abandon slash {abandon_slash_bps} bps, "
        f"arbiter window {arbiter_window} s, fee 0 (owner: deployer)"
    )
    if token_address == ZERO_ADDRESS:
        click.echo("  pays in ETH (prices in whole gwei)")
    else:
        market = provider.web3.eth.contract(  # type: ignore[attr-defined]
            address=deployment.address, abi=artifact.bundle_json()["abi"]
        )
        unit = market.functions.price_unit().call()
        click.echo(f"  pays in the token {token_address} (price unit {unit})")
    click.echo(f"  deployer balance {deployer.balance / WEI_PER_ETHER:.4f} ETH")
    click.echo(f"recorded in {path}")
