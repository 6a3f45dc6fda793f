"""The requester API inside ape: ape's provider for the chain, ape's accounts for signing.

The scripts in ``scripts/`` (``ape run post_job --network … --account …``) follow ape's
conventions and are thin: :func:`script_requester` builds a :class:`~requester.api.Requester`
from the connected ape provider (its web3 and the recorded deployment) and an ape account,
signing through :class:`ApeSigner`, so keyfile prompts, ``APE_ACCOUNTS_<alias>_PASSPHRASE``,
hardware wallets and ape's test accounts all work. :func:`reporting_errors` prints a
:class:`~jobmarket.errors.UserError` as the ``requester`` CLI does: one ``error:`` line and the
error's exit code, no traceback.

ape is imported inside the functions: this module is importable (and its signer testable)
without paying ape's start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from eth_utils import to_checksum_address
from web3.types import TxParams

from jobmarket.chain import deployments
from jobmarket.chain.client import MarketClient
from jobmarket.cli import error_line
from jobmarket.errors import UserError
from requester.api import Requester
from requester.signer import signable

if TYPE_CHECKING:
    from ape.api import AccountAPI, NetworkAPI, ProviderAPI


class ApeSigner:
    """Signs with an ape account (``ape.api.AccountAPI``), whatever kind it is."""

    def __init__(self, account: AccountAPI, provider: ProviderAPI) -> None:
        self.account = account
        self.provider = provider

    @property
    def address(self) -> str:
        return to_checksum_address(str(self.account.address))

    def sign(self, tx: TxParams) -> bytes:
        fields = signable(tx)
        if isinstance(fields.get("data"), str):
            fields["data"] = bytes.fromhex(fields["data"].removeprefix("0x"))
        transaction = self.provider.network.ecosystem.create_transaction(**fields)
        signed = self.account.sign_transaction(transaction)
        if signed is None or not signed.signature:
            raise UserError(
                f"account {self.address} did not sign the transaction", "nothing was sent"
            )
        return bytes(signed.serialize_transaction())

    def sign_typed_data(self, typed_data: dict[str, Any]) -> tuple[int, bytes, bytes]:
        """``(v, r, s)`` of an EIP-712 message (a token permit), signed by the ape account."""
        from eth_account.messages import encode_typed_data

        signature = self.account.sign_message(encode_typed_data(full_message=typed_data))
        if signature is None:
            raise UserError(f"account {self.address} did not sign the permit", "nothing was sent")
        return int(signature.v), bytes(signature.r), bytes(signature.s)

    def sign_message(self, text: str) -> str:
        """EIP-191 signature of ``text`` (a provider node API's log request), 0x-hex."""
        from eth_account.messages import encode_defunct

        signed = self.account.sign_message(encode_defunct(text=text))
        if signed is None:
            raise UserError(f"account {self.address} did not sign the message", "nothing was sent")
        return "0x" + bytes(signed.encode_rsv()).hex()

    def __repr__(self) -> str:
        return f"ApeSigner({self.address})"


def ape_logs_to_stderr() -> None:
    """Send ape's log lines to stderr, keeping stdout for the script's result (``--json``).

    ape 0.8 echoes every level to stdout (its per-level ``err`` table is keyed by enum members
    but looked up by level name), so a stray INFO line would corrupt a JSON document.
    """
    import logging

    from ape.logging import ClickHandler

    for handler in logging.getLogger("ape").handlers:
        if isinstance(handler, ClickHandler):
            handler.echo_kwargs = {
                level: {"err": True} for level in ("error", "warning", "success", "info", "debug")
            }


def script_requester(
    network: NetworkAPI,
    provider: ProviderAPI,
    account: AccountAPI | None,
    market: str | None = None,
) -> Requester:
    """A requester on ape's connected chain; test account 0 by default on a local network."""
    ape_logs_to_stderr()
    if account is None:
        if not network.is_local:
            raise UserError(
                f"no account given for network {network.name}",
                "pass --account ALIAS (see `ape accounts list`)",
            )
        from ape import accounts

        account = accounts.test_accounts[0]
    deployment = deployments.verified(provider, market)
    client = MarketClient(provider.web3, deployment.address, deployment)  # type: ignore[attr-defined]
    from requester.verbs import announce_transaction

    requester = Requester(client, ApeSigner(account, provider))
    requester.on_transaction = announce_transaction
    return requester


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a UserError into one ``error:`` line on stderr and its exit code."""
    try:
        yield
    except UserError as err:
        error_line(err.message)
        sys.stdout.flush()
        raise SystemExit(err.exit_code) from None


def job_action_script(
    verb: str, help_text: str | None, extra: list[Callable[..., Any]] | None = None
) -> click.Command:
    """The ``cli`` of an ape script that applies one move (accept, finalize, …) to a job;
    ``extra`` are the move's own options (from ``requester.commands.options.ACTION_OPTIONS``)."""
    from ape.cli import ConnectedProviderCommand, account_option

    from requester import verbs
    from requester.commands.options import (
        ACTION_OPTIONS,
        job_id_argument,
        json_option,
        market_option,
    )

    def cli(network, provider, account, job_id, as_json, market, **options):
        with (
            reporting_errors(),
            script_requester(network, provider, account, market) as requester,
        ):
            verbs.act(requester, verb, as_json=as_json, job_id=job_id, **options)

    decorators = [job_id_argument, account_option(prompt=False), json_option, market_option]
    for decorator in reversed([*decorators, *ACTION_OPTIONS.get(verb, [])]):
        cli = decorator(cli)
    return click.command(cls=ConnectedProviderCommand, help=help_text)(cli)
