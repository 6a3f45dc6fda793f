"""A damaged ape keyfile is reported in one line that names the file, never as a traceback."""

import json

import pytest

from jobmarket.chain.accounts import account_address, load_account
from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.errors import InvalidInput

ALIAS = "ops"
LOCAL_CHAIN = 31337


@pytest.fixture
def keyfile(tmp_path, monkeypatch):
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path))
    monkeypatch.setenv(f"APE_ACCOUNTS_{ALIAS}_PASSPHRASE", "secret")
    path = tmp_path / "accounts" / f"{ALIAS}.json"
    path.parent.mkdir()
    return path


@pytest.mark.parametrize("content", ["not json", "[1, 2]", b"\xff\xfe\x00"])
def test_an_unreadable_keyfile_is_named(keyfile, content):
    if isinstance(content, bytes):
        keyfile.write_bytes(content)
    else:
        keyfile.write_text(content)
    for resolve in (account_address, load_account):
        with pytest.raises(InvalidInput) as raised:
            resolve(ALIAS, LOCAL_CHAIN)
        assert raised.value.message.startswith(f"{keyfile} is not a usable ape keyfile")
        assert raised.value.message.endswith(f"`ape accounts import {ALIAS}`")


def test_a_keyfile_missing_its_cipher_is_not_a_wrong_passphrase(keyfile):
    keyfile.write_text(json.dumps({"address": dev_account(0).address[2:]}))
    assert account_address(ALIAS, LOCAL_CHAIN) == dev_account(0).address
    with pytest.raises(InvalidInput, match="is not a usable ape keyfile"):
        load_account(ALIAS, LOCAL_CHAIN)


def test_a_good_keyfile_unlocks_with_its_passphrase(keyfile):
    account = dev_account(3)
    keyfile.write_text(json.dumps(account.encrypt("secret", kdf="pbkdf2", iterations=2)))
    assert load_account(ALIAS, LOCAL_CHAIN).address == account.address
