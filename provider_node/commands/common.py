"""Options every ``provider-node`` command takes, and the session they resolve to."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from jobmarket.chain.client import max_gas_cost
from jobmarket.chain.deployments import MARKET_ENV
from jobmarket.chain.units import format_price
from jobmarket.errors import UserError
from provider_node.context.session import LOCAL_DEFAULT_ACCOUNT, Session

F = TypeVar("F", bound=Callable[..., Any])

STATE_NOTE = (
    "The node's state (journal, job folders) lives under $JOBMARKET_HOME/nodes/; the content "
    "store is the embedded one under $JOBMARKET_HOME unless IPFS_API names a Kubo node."
)


def common_options(function: F) -> F:
    """``--rpc-url``, ``--account`` and ``--market``, turned into a :class:`Session` argument."""
    function = click.option(
        "--account",
        "account",
        envvar="JOBMARKET_ACCOUNT",
        metavar="NAME",
        help=(
            "Signing account: an ape account alias, or TEST::N on a local chain "
            f"[env JOBMARKET_ACCOUNT; default on a local chain: {LOCAL_DEFAULT_ACCOUNT}]."
        ),
    )(function)
    function = click.option(
        "--market",
        metavar="ADDRESS",
        envvar=MARKET_ENV,
        expose_value=False,
        callback=_use_market,
        help=f"The JobMarket to use [default: ${MARKET_ENV}, else the newest one recorded for "
        "the chain].",
    )(function)
    function = click.option(
        "--rpc-url",
        "rpc_url",
        metavar="URL",
        help=(
            "Ethereum JSON-RPC endpoint [default: $JOBMARKET_RPC_URL, else $APE_FOUNDRY_HOST, "
            "else http://127.0.0.1:8545]."
        ),
    )(function)
    return function


def _use_market(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--market`` is read where every tool reads ``$JOBMARKET_MARKET`` (the deployments)."""
    if value:
        before = os.environ.get(MARKET_ENV)
        os.environ[MARKET_ENV] = value
        ctx.call_on_close(lambda: _restore(MARKET_ENV, before))  # in-process callers (tests)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def session_from(rpc_url: str | None, account: str | None) -> Session:
    return Session(rpc_url=rpc_url, account_name=account)


def require_funds(session: Session, function: str, *args: Any, value: int = 0) -> None:
    """Refuse before anything is signed when the account cannot pay ``value`` plus the most
    the call's gas can cost (an estimate with more value than the balance fails without a
    reason, so the value is checked first); a call the contract would refuse stops here too."""
    me = session.account.address
    balance = session.client.balance(me)
    if balance < value:
        raise UserError(
            f"{me} holds {format_price(balance)}, less than the {format_price(value)} "
            f"{function} would send",
            "fund the account or send less; nothing was sent",
        )
    tx = session.client.build(function, *args, sender=me, value=value, block="pending")
    gas = max_gas_cost(tx)
    if balance < value + gas:
        needs = f"{format_price(value)} + " if value else ""
        raise UserError(
            f"{me} holds {format_price(balance)}; {function} needs {needs}up to "
            f"{format_price(gas)} of gas",
            ("fund the account or send less" if value else "fund the account")
            + "; nothing was sent",
        )


def parse_amount(session: Session, text: str) -> int:
    """An amount typed by the provider (a stake, a price floor), read with the market's
    currency (:meth:`Currency.parse_price`, the one parser every tool uses): ETH as always
    (``0.5`` is ether, ``'250000 gwei'``), a token in whole tokens (``500``, ``'1.5 tUSD'``).
    Returned in the market's smallest unit (wei, or token units)."""
    return session.client.currency.parse_price(str(text))


def money(session: Session) -> Callable[[int], str]:
    """Shows an amount of the market's currency: ``0.5 ETH``, ``500 tUSD``."""
    return session.client.currency.format
