"""The ``provider-node`` command line: account verbs move real stake, and everything a user can
get wrong ends in one ``error:`` line, a non-zero exit and no transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from node_world import Market

from jobmarket.chain import deployments
from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import MarketClient
from jobmarket.devnet import deploy_market
from provider_node.cli import main

ETHER = 10**18


@pytest.fixture
def cli(market: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``cli("status", account="TEST::7")``: the CLI in-process against the module's chain."""
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path / "ape"))  # no user accounts leak in

    def invoke(*args: str, account: str = "TEST::7", rpc_url: str | None = None) -> Result:
        command, *rest = args
        options = ["--rpc-url", rpc_url or market.url, "--account", account]
        return CliRunner(mix_stderr=False).invoke(main, [command, *options, *rest])

    return invoke


def _one_error_line(result: Result) -> str:
    assert result.exit_code != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _nonce(market: Market, index: int) -> int:
    return market.w3.eth.get_transaction_count(dev_account(index).address)


def test_register_stake_unstake_and_status(cli, market: Market) -> None:
    registered = cli("register", "--stake", "0.5 ether", "--image", "jobmarket/*")
    staked = cli("stake", "0.25 ether")
    status = json.loads(cli("status", "--json").stdout)
    unstaked = cli("unstake", "0.1 ether")
    emptied = cli("unstake", "all")
    after = json.loads(cli("status", "--json").stdout)

    assert registered.exit_code == 0 and "capabilities bafkrei" in registered.stdout
    assert staked.exit_code == 0 and "stake 0.75 ETH" in staked.stdout
    assert (status["registered"], int(status["stake"]), int(status["free"])) == (
        True, 75 * ETHER // 100, 75 * ETHER // 100,
    )  # fmt: skip
    assert not status["running"] and status["in_flight"] == []
    assert (status["pending_earnings"], status["net_earnings"]) == (
        "0",
        str(-int(status["gas_cost"])),
    )
    text = cli("status")
    assert text.exit_code == 1  # the node is not running; everything was printed all the same
    assert "(not running)" in text.stdout and "pending (submitted, not yet paid)" in text.stdout
    assert "net         " in text.stdout
    assert unstaked.exit_code == 0 and "withdrew 0.1 ETH" in unstaked.stdout
    assert emptied.exit_code == 0 and "withdrew 0.65 ETH" in emptied.stdout
    assert int(after["stake"]) == 0


def test_the_registered_capabilities_are_the_published_document(cli, market: Market) -> None:
    from jobmarket.spec.capabilities import ProviderCapabilities

    cli("register", "--image", "jobmarket/*", "--max-timeout", "120", "--price-floor",
        "0.001 ether", account="TEST::8")  # fmt: skip
    event = market.client.events(0, names=["ProviderRegistered"])[-1]
    document = ProviderCapabilities.fetch(market.store, bytes(event.args["capabilities"]))

    assert event.args["account"] == dev_account(8).address
    assert document.accepted_images == ["jobmarket/*"]
    assert document.max_timeout_s == 120 and document.price_floor_wei == 10**15
    assert document.networks == ["none"]


def test_a_node_with_a_fresh_journal_finds_its_registration_on_chain(cli, market: Market) -> None:
    assert cli("register", account="TEST::4").exit_code == 0  # registered, without stake
    node_folders = (market.home / "nodes").glob(f"*-{dev_account(4).address[2:10].lower()}-*")
    for journal in [j for folder in node_folders for j in folder.glob("journal.sqlite3*")]:
        journal.unlink()  # another machine, or a wiped folder: the digest is not journaled

    line = _one_error_line(cli("run", account="TEST::4"))

    # Past "no capability document found": the digest came from the chain's logs.
    assert "has no stake" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("stake", "12 bananas"), "cannot read the price '12 bananas'"),
        (("stake", "0.1"), "is not registered as a provider"),  # a bare number is ether
        (("unstake", "5 ether"), "only 0 ETH of the stake is free"),
        (("withdraw",), "has no credits to withdraw"),
        (("stake", "1 ether"), "is not registered as a provider"),
    ],
)
def test_account_verbs_refuse_bad_requests_without_a_transaction(
    cli, market: Market, args: tuple[str, ...], expected: str
) -> None:
    before = _nonce(market, 5)

    line = _one_error_line(cli(*args, account="TEST::5"))

    assert expected in line
    assert _nonce(market, 5) == before


def test_run_explains_what_is_missing_in_one_line(
    cli, market: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("register", account="TEST::6").exit_code == 0  # registered, no stake
    assert cli("register", "--stake", "1 ether", account="TEST::7").exit_code == 0
    # What is tested is the one line once start-up's retries give up, not their 10 s bound
    # (tests/unit/test_retry_decisions.py tests the bound): 1 s here.
    monkeypatch.setattr("provider_node.node.STARTUP_RETRY_S", 1.0)

    not_registered = _one_error_line(cli("run", account="TEST::5"))
    no_stake = _one_error_line(cli("run", account="TEST::6"))
    no_rpc = _one_error_line(cli("run", rpc_url="http://127.0.0.1:9"))
    unknown_account = _one_error_line(cli("run", account="nobody-here"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    no_docker = _one_error_line(cli("run"))
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("IPFS_API", "http://127.0.0.1:9")
    no_ipfs = _one_error_line(cli("run"))
    monkeypatch.delenv("IPFS_API")
    monkeypatch.setenv("JOBMARKET_HOME", str(tmp_path / "elsewhere"))
    no_deployment = _one_error_line(cli("run"))

    assert "is not registered as a provider" in not_registered
    assert "has no stake" in no_stake and "provider-node stake" in no_stake
    assert "does not answer" in no_rpc and "--rpc-url" in no_rpc
    assert "no ape account named 'nobody-here'" in unknown_account
    assert "Docker is not reachable" in no_docker
    assert "IPFS" in no_ipfs and "127.0.0.1:9" in no_ipfs
    assert "no JobMarket deployment recorded for chain 31337" in no_deployment


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "provider_node", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--max-jobs" in result.stdout and "JOBMARKET_HOME" in result.stdout


def _documented_run_options() -> dict[str, str]:
    """The README's `run` options table: option name -> documented default."""
    text = (Path(__file__).resolve().parents[2] / "provider_node" / "README.md").read_text()
    section = text.split("## `run` options", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[0].startswith("`-"):
            name = cells[0].strip("`").split(" ")[0].split("/")[0]
            rows[name] = cells[1]
    return rows


def _default_as_documented(option: click.Option) -> str | None:
    """How the README writes ``option``'s default (None: computed, any words will do)."""
    if option.is_flag:
        return "on" if option.default else "off"
    if option.default is None:
        return "none" if option.multiple else None
    if isinstance(option.default, int | float):
        return f"{option.default:g}"
    return str(option.default)


def test_every_run_option_is_documented_with_its_real_default() -> None:
    from provider_node.commands.run import COMMANDS

    [run] = [c for c in COMMANDS if c.name == "run"]
    common = {"--rpc-url", "--account", "--market"}  # documented above the table, for all
    real = {
        next(o for o in p.opts if o.startswith("-") and (len(p.opts) == 1 or o != "--verbose")): p
        for p in run.params
        if isinstance(p, click.Option) and not common & set(p.opts)
    }
    documented = _documented_run_options()

    assert sorted(documented) == sorted(real)  # no option undocumented, none documented extra
    for name, option in real.items():
        expected = _default_as_documented(option)
        if expected is None:
            assert not documented[name][:1].isdigit() or "local" in documented[name], name
        else:
            assert documented[name] == expected, (name, documented[name], expected)


def _run_node_cli(market: Market, tmp_path: Path, *args: str, account: str):
    """``python -m provider_node`` as a user runs it (a subprocess, nothing caught for it)."""
    command, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "provider_node", command, "--rpc-url", market.url,
         "--account", account, *rest],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "APE_DATA_FOLDER": str(tmp_path / "ape")},
    )  # fmt: skip


def _single_error(completed: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert completed.returncode == exit_code, (completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "; " in lines[0], lines
    return lines[0]


@pytest.mark.parametrize(
    ("args", "index", "exit_code", "expected"),
    [
        (("register", "--image", ""), 10, 2, "--image: must have at least 1 character"),
        (("register", "--stake", "50000 ether"), 10, 1, "less than the 50000 ETH register"),
        # TEST::12 is one anvil never funded: not even the gas of a registration.
        (("register",), 12, 1, "holds 0 ETH; register needs up to"),
        (("stake", "1 ether"), 12, 1, "is not registered as a provider"),
    ],
)
def test_register_mistakes_are_one_line_and_send_nothing(
    market: Market, tmp_path: Path, args, index: int, exit_code: int, expected: str
) -> None:
    before = _nonce(market, index)

    line = _single_error(
        _run_node_cli(market, tmp_path, *args, account=f"TEST::{index}"), exit_code
    )

    assert expected in line
    assert _nonce(market, index) == before


@pytest.mark.parametrize(("damage", "index"), [("garbage", 11), ("truncated", 13)])
def test_a_damaged_journal_is_reported_in_one_line(
    market: Market, tmp_path: Path, damage: str, index: int
) -> None:
    account = f"TEST::{index}"
    first = _run_node_cli(market, tmp_path, "status", account=account)
    assert first.returncode == 1 and "(not running)" in first.stdout  # stopped: exit 1
    [journal] = (market.home / "nodes").glob(
        f"*-{dev_account(index).address[2:10].lower()}-*/journal.sqlite3"
    )
    for sidecar in journal.parent.glob("journal.sqlite3-*"):
        sidecar.unlink()
    if damage == "garbage":
        journal.write_bytes(bytes(range(256)) * 64)
    else:
        journal.write_bytes(journal.read_bytes()[:2000])

    for verb in ("status", "run"):
        line = _single_error(_run_node_cli(market, tmp_path, verb, account=account), 1)
        assert f"the node's journal {journal} cannot be read" in line, line
        assert "move it aside" in line


def test_the_node_log_escapes_what_a_counterpart_wrote(capsys: pytest.CaptureFixture) -> None:
    import logging

    from provider_node.context import logs

    hostile = "\x1b[2J\r\x9b31m\x7fname"
    for log_format in ("text", "json"):
        logs.configure(log_format)
        logs.emit(logging.getLogger("provider_node"), "declined", job=3, reason=hostile)
        line = capsys.readouterr().err.strip()
        assert "2J" in line and "name" in line
        assert not [ch for ch in line if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F], line


def test_market_names_the_market_to_serve_when_a_chain_has_two(cli, market: Market) -> None:
    # Issue 13: every tool takes --market; without it the newest market recorded is used.
    record = deployments.user_file()
    before = record.read_bytes()
    try:
        newer = deploy_market(market.w3, dev_account(0), arbiter=dev_account(9).address)
        registered = cli("register", "--stake", "0.1", "--market", market.client.address,
                         account="TEST::6")  # fmt: skip
        assert registered.exit_code == 0, registered.stderr
        newest = MarketClient(market.w3, newer.address, newer)
        assert market.client.provider_info(dev_account(6).address).stake == ETHER // 10
        assert newest.provider_info(dev_account(6).address).stake == 0
    finally:
        record.write_bytes(before)
