"""Tools find the deployed market through the recorded deployment and the bundled artifact."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from ape import chain
from ape.contracts import ContractInstance
from contract_helpers import ARBITER_WINDOW
from web3 import Web3

from jobmarket.chain import artifact, deployments, export
from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.deployments import Deployment
from jobmarket.chain.market import job_market
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.errors import InvalidInput, NotFound

REPO = Path(__file__).resolve().parents[2]
CHAIN_ID = 31337


def a_deployment(chain_id: int = CHAIN_ID, address: str = "0x" + "11" * 20) -> Deployment:
    return Deployment(
        chain_id=chain_id,
        address=address,
        block_number=7,
        tx_hash="0x" + "22" * 32,
        deployer="0x" + "33" * 20,
        arbiter="0x" + "44" * 20,
        genesis_hash="0x" + "55" * 32,
        timestamp=1_700_000_000,
    )


def record_of(market) -> Deployment:
    """The deployment record the deploy script would write for ``market``."""
    return Deployment(
        chain_id=chain.chain_id,
        address=market.address,
        block_number=1,
        tx_hash="0x" + "00" * 32,
        deployer="0x" + "00" * 20,
        arbiter=market.arbiter(),
        genesis_hash="0x" + bytes(chain.blocks[0].hash).hex(),
        timestamp=0,
    )


@pytest.fixture
def deployments_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "deployments.json"
    monkeypatch.setenv(deployments.ENV_VAR, str(path))
    return path


# ---------------------------------------------------------------- bundled artifact


def test_the_bundled_artifact_is_the_freshly_compiled_contract(project):
    """Same ABI and code; the compiler's metadata trailer (a hash of the source text, comments
    included) may differ without changing what is deployed."""
    fresh = artifact.bundle(project.JobMarket.contract_type)
    assert artifact.same_code(fresh, artifact.bundle_json()), (
        "jobmarket/chain/JobMarket.json is stale: run `python -m jobmarket.chain.export`"
    )
    assert export.render(fresh).count("\n") == artifact.ARTIFACT_PATH.read_text().count("\n")


def test_a_different_runtime_code_is_not_the_same_contract():
    bundled = artifact.bundle_json()
    code = bundled["runtimeBytecode"]["bytecode"]
    changed = {
        **bundled,
        "runtimeBytecode": {"bytecode": code[:-2] + ("00" if code[-2:] != "00" else "01")},
    }
    assert not artifact.same_code(changed, bundled)


def test_the_bundled_artifact_holds_what_clients_need():
    bundle = artifact.bundle_json()
    names = {entry.get("name") for entry in bundle["abi"]}
    assert {"post_job", "claim", "get_job", "JobPosted", "ResultSubmitted"} <= names
    assert bundle["deploymentBytecode"]["bytecode"].startswith("0x")
    assert "pcmap" not in bundle and "ast" not in bundle
    assert artifact.contract_type().name == "JobMarket"


# ---------------------------------------------------------------- deployments file


def test_a_recorded_deployment_is_found_again(deployments_file):
    written = deployments.record(a_deployment())
    assert written == deployments_file
    assert deployments.lookup(CHAIN_ID) == a_deployment()
    assert deployments.lookup(1) is None
    content = json.loads(deployments_file.read_text())
    assert content["version"] == 2
    assert content["deployments"][0]["address"] == "0x" + "11" * 20


def test_a_version_1_file_is_still_read(deployments_file):
    record = {**a_deployment().__dict__}
    deployments_file.write_text(json.dumps({"version": 1, "deployments": {str(CHAIN_ID): record}}))
    assert deployments.lookup(CHAIN_ID) == a_deployment()


def test_recording_again_replaces_that_chain_only(deployments_file):
    deployments.record(a_deployment())
    deployments.record(a_deployment(chain_id=5))
    deployments.record(a_deployment(address="0x" + "99" * 20))
    assert deployments.lookup(CHAIN_ID).address == "0x" + "99" * 20
    assert deployments.lookup(5).address == "0x" + "11" * 20
    # Written atomically: nothing but the file and its lock is left behind.
    assert sorted(p.name for p in deployments_file.parent.iterdir()) == [
        "deployments.json",
        "deployments.json.lock",
    ]


def test_without_the_variable_the_file_lives_in_jobmarket_home(tmp_path, monkeypatch):
    monkeypatch.delenv(deployments.ENV_VAR, raising=False)
    monkeypatch.setenv("JOBMARKET_HOME", str(tmp_path / "home"))
    assert deployments.record(a_deployment()) == tmp_path / "home" / "deployments.json"
    assert deployments.lookup(CHAIN_ID) == a_deployment()


def test_the_packaged_file_answers_for_chains_the_user_has_not_recorded(
    deployments_file, monkeypatch, tmp_path
):
    packaged = tmp_path / "packaged.json"
    deployments.record(a_deployment(chain_id=11155111), path=packaged)
    monkeypatch.setattr(deployments, "PACKAGED_PATH", packaged)
    assert deployments.lookup(11155111).chain_id == 11155111
    deployments.record(a_deployment(chain_id=11155111, address="0x" + "77" * 20))
    assert deployments.lookup(11155111).address == "0x" + "77" * 20


def test_the_shipped_file_records_no_deployment_yet():
    content = json.loads(deployments.PACKAGED_PATH.read_text())
    assert content == {"version": 1, "deployments": {}}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"deployments": "none"}',
        '{"deployments": {"mainnet": {}}}',
        '{"deployments": {"1": {"chain_id": 1}}}',
    ],
)
def test_a_damaged_file_is_reported_not_ignored(deployments_file, content):
    deployments_file.write_text(content)
    with pytest.raises(InvalidInput) as raised:
        deployments.lookup(CHAIN_ID)
    assert str(deployments_file) in raised.value.message
    assert "fix or delete" in raised.value.message


def test_an_unreadable_file_is_reported_not_ignored(deployments_file):
    deployments_file.mkdir()
    with pytest.raises(InvalidInput) as raised:
        deployments.lookup(CHAIN_ID)
    assert raised.value.message.startswith(f"cannot read the deployments file {deployments_file}")


# ---------------------------------------------------------------- checks against the chain


def test_no_record_for_the_chain_says_how_to_deploy(deployments_file):
    with pytest.raises(NotFound) as raised:
        deployments.verified(chain.provider)
    assert raised.value.message == (
        "no JobMarket deployment recorded for chain 31337; run `ape run deploy --network ...`"
    )


def test_a_record_from_another_chain_with_the_same_id_is_refused_and_kept(deployments_file, market):
    other_anvil = replace(record_of(market), genesis_hash="0x" + "ab" * 32)
    deployments.record(other_anvil)
    with pytest.raises(NotFound) as raised:
        deployments.verified(chain.provider)
    message = raised.value.message
    assert "were made on another chain with the same id (its block 0 differs" in message
    assert "every anvil is chain 31337" in message and "or pass --market ADDRESS" in message

    # Deploying on this chain does not replace the other anvil's record (issue 13, item 5).
    deployments.record(record_of(market))
    assert deployments.verified(chain.provider).address == market.address
    assert other_anvil in deployments.read_all(deployments_file)


def test_two_markets_on_one_chain_are_both_kept_and_named_with_market(deployments_file, market):
    first = record_of(market)
    deployments.record(first)
    second = deploy_market(  # a second market on the same chain
        chain.provider.web3, dev_account(8), arbiter=dev_account(9).address, record=True
    )
    assert deployments.verified_web3(chain.provider.web3).address == second.address  # newest
    chosen = deployments.verified_web3(chain.provider.web3, market=first.address)
    assert chosen == first
    assert {d.address for d in deployments.read_all(deployments_file)} == {
        first.address,
        second.address,
    }
    with pytest.raises(NotFound, match="there is no contract at 0x1212"):
        deployments.verified_web3(chain.provider.web3, market="0x" + "12" * 20)


def test_a_record_whose_address_holds_no_code_is_refused(deployments_file, market):
    deployments.record(replace(record_of(market), address="0x" + "12" * 20))
    with pytest.raises(NotFound, match="has no code there any more: this chain's state was"):
        deployments.verified(chain.provider)
    with pytest.raises(NotFound, match="has no code there any more"):
        deployments.verified_web3(chain.provider.web3)


def test_job_market_is_the_recorded_contract_with_the_bundled_type(deployments_file, market):
    deployments.record(record_of(market))
    found = job_market(chain.provider)
    assert isinstance(found, ContractInstance)
    assert found.address == market.address
    assert found.contract_type.abi == artifact.contract_type().abi
    assert (found.arbiter_window(), found.job_count()) == (ARBITER_WINDOW, 0)
    assert deployments.verified_web3(chain.provider.web3) == record_of(market)


# ---------------------------------------------------------------- the deploy script


def run_deploy(
    record_path: Path, *options: str, uri: str | None = None
) -> subprocess.CompletedProcess:
    """`ape run deploy` against this test's anvil (or ``uri``), as a user would run it."""
    env = {
        **os.environ,
        "APE_FOUNDRY_HOST": uri or chain.provider.uri,
        deployments.ENV_VAR: str(record_path),
    }
    ape = str(Path(sys.executable).with_name("ape"))
    return subprocess.run(
        [ape, "run", "deploy", "--network", "ethereum:local:foundry", *options],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_deploy_script_deploys_and_records(tmp_path, accounts, monkeypatch):
    record_path = tmp_path / "deployments.json"
    result = run_deploy(record_path, "--collateral-bps", "500")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"recorded in {record_path}" in result.stdout

    recorded = deployments.read_file(record_path)[CHAIN_ID]
    assert recorded.deployer == accounts[0].address
    assert recorded.arbiter == accounts[9].address  # not TEST::1, the default provider
    assert "Warning" not in result.stdout + result.stderr
    assert "HostileAccount" not in result.stdout
    assert chain.provider.get_code(recorded.address)
    monkeypatch.setenv(deployments.ENV_VAR, str(record_path))
    market = job_market(chain.provider)
    assert market.params()[2] == 500
    assert market.owner() == accounts[0].address


def test_the_deploy_script_refuses_before_deploying_when_it_could_not_record(tmp_path, accounts):
    """A deployment the tools cannot find is lost: a damaged record file stops it before any gas."""
    record_path = tmp_path / "deployments.json"
    record_path.write_text("not json")
    nonce_before = accounts[0].nonce
    result = run_deploy(record_path)
    assert result.returncode != 0
    assert f"{record_path} is not a deployments file" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert accounts[0].nonce == nonce_before
    assert record_path.read_text() == "not json"


def test_the_deploy_script_works_on_an_anvil_mining_every_second(tmp_path):
    """Issue 13, item 7: "did not create a contract" although the receipt had status 1."""
    record_path = tmp_path / "deployments.json"
    with Anvil(block_time=1) as interval:
        result = run_deploy(record_path, uri=interval.url)
        assert result.returncode == 0, result.stdout + result.stderr
        [recorded] = deployments.read_all(record_path)
        web3 = Web3(Web3.HTTPProvider(interval.url))
        assert web3.eth.get_code(recorded.address)
        assert recorded.genesis_hash == web3.eth.get_block(0)["hash"].to_0x_hex()


def test_the_deploy_script_deploys_a_market_that_pays_in_a_token(
    tmp_path, accounts, monkeypatch, token_markets
):
    token = token_markets["usdc"].token
    record_path = tmp_path / "deployments.json"
    result = run_deploy(record_path, "--token", token.address)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"pays in the token {token.address} (price unit 1)" in result.stdout

    monkeypatch.setenv(deployments.ENV_VAR, str(record_path))
    market = job_market(chain.provider)
    assert market.token() == token.address
    client = MarketClient(chain.provider.web3, market.address)
    currency = client.currency
    assert (currency.symbol, currency.decimals, currency.price_unit) == ("USDC", 6, 1)
    assert currency.parse_price("12.5") == 12_500_000
    assert currency.format(12_500_000) == "12.5 USDC"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("0x1234", "'0x1234' is not an address"),
        ("0x000000000000000000000000000000000000dEaD", "holds no contract on this chain"),
    ],
)
def test_the_deploy_script_refuses_a_token_that_is_not_one_before_spending_gas(
    tmp_path, accounts, token, message
):
    nonce_before = accounts[0].nonce
    result = run_deploy(tmp_path / "deployments.json", "--token", token)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert accounts[0].nonce == nonce_before


@pytest.mark.parametrize(
    ("decimals", "reason"), [(36, "token decimals above 18"), (None, "token has no decimals")]
)
def test_the_deploy_script_refuses_a_token_the_contract_refuses_in_one_line(
    tmp_path, accounts, project, decimals, reason
):
    """A 36-decimal token, or one whose decimals() reverts: was a web3 traceback."""
    if decimals is None:
        token = accounts[0].deploy(project.HostileAccount, accounts[1])  # no decimals()
    else:
        token = accounts[0].deploy(project.TestToken, "Wide", "WIDE", decimals, False)
    nonce_before = accounts[0].nonce
    result = run_deploy(tmp_path / "deployments.json", "--token", token.address)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"the contract refuses these deployment arguments: {reason}" in output, output
    assert "Traceback" not in output
    assert accounts[0].nonce == nonce_before
