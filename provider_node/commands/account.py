"""``register``, ``stake``, ``unstake``, ``withdraw``: the provider account's side of the market.

Transactions go through the node's own signer (journal, nonce lock), so these commands are
safe to use while ``provider-node run`` serves the same account. Amounts are in the market's
currency: ETH (``0.5`` is ether, ``'250000 gwei'``), or the market's token in whole tokens
(``500``). On a token market a stake is an ``approve`` (only when the allowance is short)
and ``deposit_stake_token``; registering with a stake registers first (the contract's
``register`` takes no tokens), then stakes.
"""

from __future__ import annotations

from pathlib import Path

import click
import docker.errors
import requests.exceptions

from jobmarket.cli import say
from jobmarket.content.store import open_store
from jobmarket.docker_engine import docker_client
from jobmarket.errors import InvalidInput, UserError
from jobmarket.spec.capabilities import ProviderCapabilities
from provider_node.chain.registration import (
    CAPABILITIES_META,
    build_capabilities,
    machine_hardware,
    with_api_url,
    with_ipfs_peers,
)
from provider_node.chain.signer import Mined
from provider_node.commands.common import (
    STATE_NOTE,
    common_options,
    money,
    parse_amount,
    require_funds,
    session_from,
)
from provider_node.context.session import Session
from provider_node.gpus import container_runtime_problem, detect_gpus

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
    metavar="AMOUNT",
    help=(
        "Jobs paying less are ignored; in the market's currency ('1000 gwei', or 1.5 tokens "
        "on a token market) [default: the smallest price the market takes: 1 gwei, or one "
        "token unit]."
    ),
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
    help="Stake to deposit with the registration, e.g. '0.5 ether' (500 on a token market).",
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
    price_floor: str | None,
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
    session = session_from(rpc_url, account)
    client = session.client
    currency = client.currency
    deposit = 0 if stake.strip() in ("0", "") else parse_amount(session, stake)
    floor = currency.price_unit if price_floor is None else parse_amount(session, price_floor)
    if capabilities_file is not None:
        document = ProviderCapabilities.from_file(capabilities_file)
    else:
        document = build_capabilities(
            hardware=machine_hardware(detect_gpus()),
            max_cpu=max_cpu,
            max_memory_mb=max_memory_mb,
            max_disk_mb=max_disk_mb,
            max_timeout_s=max_timeout,
            price_floor_wei=floor,
            accepted_images=list(images) or ["*"],
            networks=list(networks) or ["none"],
        )
    document = with_api_url(document, api_url)
    value = deposit if currency.is_eth else 0  # a token stake follows the registration
    with open_store() as store:
        document = with_ipfs_peers(document, store)
        require_funds(session, "register", document.digest, value=value)
        if value != deposit:
            _require_tokens(session, deposit)
        cid = document.publish(store)
    mined = session.tx_manager().transact("register", cid.digest, value=value)
    session.journal.set_meta(CAPABILITIES_META, cid.digest.hex())
    staked = [_stake_tokens(session, deposit)] if value != deposit else []
    info = client.provider_info(session.account.address)
    say(
        f"registered {session.account.address}: capabilities {cid}, stake "
        f"{currency.format(info.stake)} ({'; '.join(_tx(m) for m in [mined, *staked])})"
    )
    _warn_without_gpu_runtime(document)


def _warn_without_gpu_runtime(document: ProviderCapabilities) -> None:
    """GPUs offered but Docker cannot hand them to containers: say what to install."""
    if document.hardware.gpus == 0:
        return
    try:
        client = docker_client()
        try:
            info = client.info()
        finally:
            client.close()
    except (UserError, docker.errors.DockerException, requests.exceptions.RequestException):
        # no engine answers: `provider-node run` reports that on its own
        return
    problem = container_runtime_problem(info)
    if problem:
        count = document.hardware.gpus
        say(f"warning: {count} GPU{'s' if count != 1 else ''} offered, but {problem}", err=True)


@click.command(epilog=STATE_NOTE)
@common_options
@click.argument("amount")
def stake(rpc_url: str | None, account: str | None, amount: str) -> None:
    """Add AMOUNT (such as '0.5 ether', or 100 tokens on a token market) to the stake that
    backs claims."""
    session = session_from(rpc_url, account)
    wanted = parse_amount(session, amount)
    _require_registered(session)
    if session.client.currency.is_eth:
        require_funds(session, "deposit_stake", value=wanted)
        mined = session.tx_manager().transact("deposit_stake", value=wanted)
    else:
        _require_tokens(session, wanted)
        mined = _stake_tokens(session, wanted)
    info = session.client.provider_info(session.account.address)
    show = money(session)
    say(f"staked {show(wanted)}: stake {show(info.stake)}, free {show(info.free)} ({_tx(mined)})")


def _require_tokens(session: Session, amount: int) -> None:
    """The account holds ``amount`` of the market's token (checked before anything is sent)."""
    me = session.account.address
    currency = session.client.currency
    held = session.client.currency_balance(me)
    if held < amount:
        raise UserError(
            f"{me} holds {currency.format(held)}, less than the {currency.format(amount)} "
            "to stake (plus gas in ETH)",
            f"get more {currency.symbol} or stake less; nothing was sent",
        )
    if not session.client.token_moves(me, amount):
        raise UserError(
            f"the token refuses to move {currency.format(amount)} from {me} although its "
            f"balanceOf says it holds {currency.format(held)} (a blocked account, or a balance "
            "that is not really there)",
            "this token cannot back a stake; nothing was sent",
        )


def _stake_tokens(session: Session, amount: int) -> Mined:
    """``approve`` the market for ``amount`` (only when the allowance is short; a leftover
    allowance is set to zero first, as USDT-style tokens require), then
    ``deposit_stake_token``; the deposit is estimated first, so a token the market refuses (a
    fee on transfer) stops there with the contract's reason."""
    client, me = session.client, session.account.address
    txs = session.tx_manager()
    for approved in client.approvals_needed(me, amount):
        txs.transact(
            "approve",
            client.address,
            approved,
            build=lambda nonce, approved=approved: client.build_approve(me, approved, nonce),
        )
    require_funds(session, "deposit_stake_token", amount)
    return txs.transact("deposit_stake_token", amount)


@click.command(epilog=STATE_NOTE)
@common_options
@click.argument("amount", metavar="AMOUNT|all")
def unstake(rpc_url: str | None, account: str | None, amount: str) -> None:
    """Withdraw free stake (not locked by claimed jobs), including earnings: AMOUNT or 'all'."""
    session = session_from(rpc_url, account)
    show = money(session)
    info = session.client.provider_info(session.account.address)
    if amount.strip().lower() == "all":
        wanted = info.free
        if wanted == 0:
            raise UserError(
                f"no free stake to withdraw ({show(info.locked)} is locked by claimed jobs)",
                "wait for them to settle",
            )
    else:
        wanted = parse_amount(session, amount)
        if wanted > info.free:
            raise InvalidInput(
                f"only {show(info.free)} of the stake is free "
                f"({show(info.locked)} is locked by claimed jobs)",
                "withdraw less, or 'all'",
            )
    require_funds(session, "withdraw_stake", wanted)
    mined = session.tx_manager().transact("withdraw_stake", wanted)
    left = session.client.provider_info(session.account.address)
    say(f"withdrew {show(wanted)}: stake {show(left.stake)} left ({_tx(mined)})")


@click.command(epilog=STATE_NOTE)
@common_options
def withdraw(rpc_url: str | None, account: str | None) -> None:
    """Withdraw the account's credits (payments the market could not push to it)."""
    session = session_from(rpc_url, account)
    credits = session.client.credits(session.account.address)
    show = money(session)
    if credits == 0:
        raise UserError(
            f"{session.account.address} has no credits to withdraw",
            "earnings are credited to the stake: use `provider-node unstake`",
        )
    require_funds(session, "withdraw")
    mined = session.tx_manager().transact("withdraw")
    say(f"withdrew {show(credits)} of credits ({_tx(mined)})")


def _require_registered(session: Session) -> None:
    if not session.client.provider_info(session.account.address).registered:
        raise UserError(
            f"account {session.account.address} is not registered as a provider",
            "run `provider-node register --stake AMOUNT` first",
        )


def _tx(mined: Mined) -> str:
    return f"tx {mined.record.hash}, gas {mined.record.gas_used}"


COMMANDS = [register, stake, unstake, withdraw]
