"""Signing accounts, resolved the way ape resolves them, without importing ape.

Importing ape costs about five seconds (it loads a whole Python EVM); the requester CLI and the
provider node only need a key. So we read ape's account management directly:

* ``TEST::N`` — ape's N-th test account (the mnemonic and HD path that ape and anvil share).
  Refused on chains that are not local: test keys are public.
* ``ALIAS`` — an ape keyfile account (``ape accounts generate ALIAS`` / ``ape accounts import
  ALIAS``), stored in ``$APE_DATA_FOLDER/accounts`` (default ``~/.ape/accounts``). Its passphrase
  comes from ``APE_ACCOUNTS_<ALIAS>_PASSPHRASE`` (ape's own variable) or an interactive prompt.
"""

import getpass
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from jobmarket.chain.rpc import is_local_chain
from jobmarket.errors import InvalidInput, NotFound, UserError

TEST_MNEMONIC = "test test test test test test test test test test test junk"
TEST_HD_PATH = "m/44'/60'/0'/0"
TEST_PREFIX = "TEST::"
MAX_TEST_INDEX = 2**31 - 1  # the last non-hardened BIP-32 child index


@lru_cache(maxsize=32)
def test_account(index: int) -> LocalAccount:
    """The N-th account of the shared development mnemonic (anvil's funded accounts)."""
    Account.enable_unaudited_hdwallet_features()
    mnemonic = os.environ.get("JOBMARKET_TEST_MNEMONIC", TEST_MNEMONIC)
    return Account.from_mnemonic(mnemonic, account_path=f"{TEST_HD_PATH}/{index}")


def ape_accounts_folder() -> Path:
    data = os.environ.get("APE_DATA_FOLDER")
    return (Path(data) if data else Path.home() / ".ape") / "accounts"


def _keyfile_path(alias: str) -> Path:
    return ape_accounts_folder() / f"{alias}.json"


def _damaged_keyfile(alias: str, detail: object) -> InvalidInput:
    return InvalidInput(
        f"{_keyfile_path(alias)} is not a usable ape keyfile ({detail})",
        f"restore it, or import the key again with `ape accounts import {alias}`",
    )


def _keyfile(alias: str) -> dict:
    path = _keyfile_path(alias)
    if not path.is_file():
        raise NotFound(
            f"no ape account named '{alias}' (looked for {path})",
            "create one with `ape accounts generate " + alias + "` or use TEST::N on a local chain",
        )
    try:
        keyfile = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged_keyfile(alias, err) from None
    if not isinstance(keyfile, dict):
        raise _damaged_keyfile(alias, "not a JSON object")
    return keyfile


def _keyfile_account(alias: str) -> LocalAccount:
    keyfile = _keyfile(alias)
    passphrase = os.environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE")
    if passphrase is None:
        if not sys.stdin.isatty():
            raise UserError(
                f"account '{alias}' is locked and no passphrase was given",
                f"set APE_ACCOUNTS_{alias}_PASSPHRASE",
            )
        passphrase = getpass.getpass(f"Passphrase for account '{alias}': ")
    try:
        key = Account.decrypt(keyfile, passphrase)
    except ValueError:
        raise UserError(
            f"wrong passphrase for account '{alias}'",
            f"check APE_ACCOUNTS_{alias}_PASSPHRASE",
        ) from None
    except (KeyError, TypeError) as err:  # eth-keyfile's way of saying a field is missing or odd
        raise _damaged_keyfile(alias, f"{type(err).__name__}: {err}") from None
    return Account.from_key(key)


def account_address(name: str, chain_id: int) -> str:
    """The address behind an account name without unlocking it: reading needs no passphrase."""
    if name.strip().upper().startswith(TEST_PREFIX):
        return load_account(name, chain_id).address
    _check_alias(name.strip())
    address = str(_keyfile(name.strip()).get("address") or "")
    if not address:  # a keyfile without the (optional) address field: unlock it to know
        return load_account(name, chain_id).address
    return to_checksum_address(address if address.startswith("0x") else "0x" + address)


def _check_alias(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise InvalidInput(
            f"malformed account name '{name}'", "use TEST::N or an ape account alias"
        )


def load_account(name: str, chain_id: int) -> LocalAccount:
    """Resolve an account name (``TEST::N`` or an ape alias) into a signing account."""
    name = name.strip()
    if name.upper().startswith(TEST_PREFIX):
        raw_index = name[len(TEST_PREFIX) :]
        if not (raw_index.isascii() and raw_index.isdigit()):
            raise InvalidInput(f"malformed test account '{name}'", "use TEST::0, TEST::1, ...")
        if len(raw_index) > 10 or int(raw_index) > MAX_TEST_INDEX:
            raise InvalidInput(
                f"test account '{name[:40]}' does not exist: the index is above {MAX_TEST_INDEX}",
                "use TEST::0, TEST::1, ... (anvil funds TEST::0 to TEST::9)",
            )
        if not is_local_chain(chain_id):
            raise UserError(
                f"test account {name} refused on chain {chain_id}: its key is public",
                "use an ape keyfile account (`ape accounts generate NAME`) on public networks",
            )
        return test_account(int(raw_index))
    _check_alias(name)
    return _keyfile_account(name)
