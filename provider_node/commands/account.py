"""``register``, ``stake``, ``unstake``, ``withdraw``: the provider account's side of the market.

Transactions go through the node's own signer (journal, nonce lock), so these commands are
safe to use while ``provider-node run`` serves the same account.
"""

from __future__ import annotations

from pathlib import Path

import click

from jobmarket.chain.units import format_price, parse_price
from jobmarket.cli import say
from jobmarket.content.store import open_store
from jobmarket.errors import InvalidInput, UserError
from jobmarket.spec.capabilities import Hardware, ProviderCapabilities
from provider_node.chain.registration import (
    CAPABILITIES_META,
    build_capabilities,
    machine_hardware,
    with_api_url,
    with_ipfs_peers,
)
from provider_node.chain.signer import Mined
from provider_node.commands.common import (
    AMOUNT,
    STATE_NOTE,
    common_options,
    require_funds,
    session_from,
)
from provider_node.context.session import Session

_HARDWARE = machine_hardware()


@click.command(epilog=STATE_NOTE)
@common_options
@click.option(
    "--capabilities",
    "capabilities_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A complete capability document (JSON) instead of the options below.",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="PATTERN",
    help="Accepted images, shell patterns (repeatable) [default: '*', any image on this node].",
)
@click.option(
    "--price-floor",
    type=AMOUNT,
    default="1 gwei",
    show_default=True,
    help="Jobs paying less are ignored.",
)
@click.option(
    "--max-cpu",
    type=click.FloatRange(0.1, 64),
    default=min(_HARDWARE.cpus, 64.0),
    show_default="this machine's CPUs",
    help="Largest CPU share one job may ask for.",
)
@click.option(
    "--max-memory-mb",
    type=click.IntRange(16, 65536),
    default=min(max(16, _HARDWARE.memory_mb // 2), 65536),
    show_default="half this machine's memory",
    help="Largest memory limit one job may ask for.",
)
@click.option(
    "--max-disk-mb",
    type=click.IntRange(1, 102400),
    default=10240,
    show_default=True,
    help="Largest output size one job may ask for.",
)
@click.option(
    "--max-timeout",
    type=click.IntRange(1, 86400),
    default=3600,
    show_default=True,
    help="Longest run (seconds) one job may ask for.",
)
@click.option(
    "--network",
    "networks",
    multiple=True,
    type=click.Choice(["none", "bridge"]),
    help="Network modes offered to jobs (repeatable) [default: none].",
)
@click.option(
    "--stake",
    type=str,
    default="0",
    show_default=True,
    metavar="AMOUNT",
    help="Stake to deposit with the registration, e.g. '0.5 ether'.",
)
@click.option(
    "--api-url",
    metavar="URL",
    default=None,
    help="Publish this http(s) URL as the node's API (what requesters reach `run --api-listen` "
    "at) [default: none].",
)
def register(
    rpc_url: str | None,
    account: str | None,
    capabilities_file: Path | None,
    images: tuple[str, ...],
    price_floor: int,
    max_cpu: float,
    max_memory_mb: int,
    max_disk_mb: int,
    max_timeout: int,
    networks: tuple[str, ...],
    stake: str,
    api_url: str | None,
) -> None:
    """Publish this node's capability document and register it on-chain.

    Registering again replaces the document (a running node picks it up); the stake adds up.
    """
    deposit = 0 if stake.strip() in ("0", "") else parse_price(stake)
    if capabilities_file is not None:
        document = ProviderCapabilities.from_file(capabilities_file)
    else:
        document = build_capabilities(
            hardware=Hardware(cpus=_HARDWARE.cpus, memory_mb=_HARDWARE.memory_mb, gpus=0),
            max_cpu=max_cpu,
            max_memory_mb=max_memory_mb,
            max_disk_mb=max_disk_mb,
            max_timeout_s=max_timeout,
            price_floor_wei=price_floor,
            accepted_images=list(images) or ["*"],
            networks=list(networks) or ["none"],
        )
    document = with_api_url(document, api_url)
    session = session_from(rpc_url, account)
    client = session.client
    with open_store() as store:
        document = with_ipfs_peers(document, store)
        require_funds(session, "register", document.digest, value=deposit)
        cid = document.publish(store)
    mined = session.tx_manager().transact("register", cid.digest, value=deposit)
    session.journal.set_meta(CAPABILITIES_META, cid.digest.hex())
    info = client.provider_info(session.account.address)
    say(
        f"registered {session.account.address}: capabilities {cid}, stake "
        f"{format_price(info.stake)} ({_tx(mined)})"
    )


@click.command(epilog=STATE_NOTE)
@common_options
@click.argument("amount", type=AMOUNT)
def stake(rpc_url: str | None, account: str | None, amount: int) -> None:
    """Add AMOUNT (such as '0.5 ether') to the stake that backs claims."""
    session = session_from(rpc_url, account)
    _require_registered(session)
    require_funds(session, "deposit_stake", value=amount)
    mined = session.tx_manager().transact("deposit_stake", value=amount)
    info = session.client.provider_info(session.account.address)
    say(
        f"staked {format_price(amount)}: stake {format_price(info.stake)}, "
        f"free {format_price(info.free)} ({_tx(mined)})"
    )


@click.command(epilog=STATE_NOTE)
@common_options
@click.argument("amount", metavar="AMOUNT|all")
def unstake(rpc_url: str | None, account: str | None, amount: str) -> None:
    """Withdraw free stake (not locked by claimed jobs), including earnings: AMOUNT or 'all'."""
    session = session_from(rpc_url, account)
    info = session.client.provider_info(session.account.address)
    if amount.strip().lower() == "all":
        wanted = info.free
        if wanted == 0:
            raise UserError(
                f"no free stake to withdraw ({format_price(info.locked)} is locked by claimed "
                "jobs)",
                "wait for them to settle",
            )
    else:
        wanted = parse_price(amount)
        if wanted > info.free:
            raise InvalidInput(
                f"only {format_price(info.free)} of the stake is free "
                f"({format_price(info.locked)} is locked by claimed jobs)",
                "withdraw less, or 'all'",
            )
    require_funds(session, "withdraw_stake", wanted)
    mined = session.tx_manager().transact("withdraw_stake", wanted)
    left = session.client.provider_info(session.account.address)
    say(f"withdrew {format_price(wanted)}: stake {format_price(left.stake)} left ({_tx(mined)})")


@click.command(epilog=STATE_NOTE)
@common_options
def withdraw(rpc_url: str | None, account: str | None) -> None:
    """Withdraw the account's credits (payments the market could not push to it)."""
    session = session_from(rpc_url, account)
    credits = session.client.credits(session.account.address)
    if credits == 0:
        raise UserError(
            f"{session.account.address} has no credits to withdraw",
            "earnings are credited to the stake: use `provider-node unstake`",
        )
    require_funds(session, "withdraw")
    mined = session.tx_manager().transact("withdraw")
    say(f"withdrew {format_price(credits)} of credits ({_tx(mined)})")


def _require_registered(session: Session) -> None:
    if not session.client.provider_info(session.account.address).registered:
        raise UserError(
            f"account {session.account.address} is not registered as a provider",
            "run `provider-node register --stake AMOUNT` first",
        )


def _tx(mined: Mined) -> str:
    return f"tx {mined.record.hash}, gas {mined.record.gas_used}"


COMMANDS = [register, stake, unstake, withdraw]
