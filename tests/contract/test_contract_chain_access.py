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

from jobmarket.chain import artifact, deployments, export
from jobmarket.chain.client import MarketClient
from jobmarket.chain.deployments import Deployment
from jobmarket.chain.market import job_market
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
    fresh = export.render(artifact.bundle(project.JobMarket.contract_type))
    assert fresh == artifact.ARTIFACT_PATH.read_text(encoding="utf-8"), (
        "jobmarket/chain/JobMarket.json is stale: run `python -m jobmarket.chain.export`"
    )


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
    assert content["version"] == 1
    assert content["deployments"][str(CHAIN_ID)]["address"] == "0x" + "11" * 20


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
        '{"deployments": []}',
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


def test_a_record_from_an_earlier_chain_is_refused(deployments_file, market):
    deployments.record(record_of(market))
    assert deployments.verified(chain.provider).address == market.address

    deployments.record(replace(record_of(market), genesis_hash="0x" + "ab" * 32))
    with pytest.raises(NotFound) as raised:
        deployments.verified(chain.provider)
    assert "belongs to an earlier run of this chain (anvil restarted?)" in raised.value.message
    assert raised.value.message.endswith("; run `ape run deploy` again")


def test_a_record_whose_address_holds_no_code_is_refused(deployments_file, market):
    deployments.record(replace(record_of(market), address="0x" + "12" * 20))
    with pytest.raises(NotFound, match="earlier run of this chain"):
        deployments.verified(chain.provider)
    with pytest.raises(NotFound, match="earlier run of this chain"):
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


def run_deploy(record_path: Path, *options: str) -> subprocess.CompletedProcess:
    """`ape run deploy` against this test's anvil, as a user would run it."""
    env = {
        **os.environ,
        "APE_FOUNDRY_HOST": chain.provider.uri,
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
    assert recorded.arbiter == accounts[1].address
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
