"""Fixtures for the requester tools: a real anvil with a fresh JobMarket per test module,
the ``requester`` CLI run in-process, the Python API, and a provider driven by hand
(see ``requester_support.py``). Everything runs against the real chain and the real embedded
content store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from requester_support import (
    ARBITER,
    DEPLOYER,
    IMAGE,
    PROVIDER,
    Chain,
    ScriptedProvider,
)

from jobmarket.chain import rpc
from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import MarketClient
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.devnet import Anvil, deploy_market
from requester.api import Requester
from requester.cli import main


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """A fresh anvil and JobMarket per test module (about a second); JOBMARKET_HOME and the RPC
    URL point at it, so modules never see each other's jobs."""
    home = tmp_path_factory.mktemp("requester-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JOBMARKET_HOME", str(home))
        for name in (
            "IPFS_API",
            "JOBMARKET_IPFS_DIR",
            "JOBMARKET_ACCOUNT",
            "JOBMARKET_DEPLOYMENTS",
            "JOBMARKET_DEBUG",
        ):
            env.delenv(name, raising=False)
        with Anvil(log_path=home / "anvil.log") as anvil:
            env.setenv("JOBMARKET_RPC_URL", anvil.url)
            web3 = rpc.connect(anvil.url)
            deployment = deploy_market(
                web3, dev_account(DEPLOYER), arbiter=dev_account(ARBITER).address
            )
            client = MarketClient(web3, deployment.address, deployment)
            yield Chain(anvil, client, home)


@pytest.fixture(scope="module")
def store(chain: Chain) -> EmbeddedStore:
    """The embedded store every tool of the module uses (JOBMARKET_HOME/ipfs)."""
    return EmbeddedStore(chain.home / "ipfs")


@pytest.fixture(scope="module")
def requester(chain: Chain) -> Iterator[Requester]:
    """The Python API as TEST::0 (the CLI's default account on a local chain)."""
    with Requester.connect(chain.url, "TEST::0") as me:
        yield me


@pytest.fixture
def cli(chain: Chain) -> Callable[..., Result]:
    """Run ``requester`` in-process (stdout and stderr kept apart)."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner(mix_stderr=False).invoke(main, list(args), env=env)

    return run


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """Run in a temporary folder (default result folders land here)."""
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def provider(chain: Chain, store: EmbeddedStore) -> ScriptedProvider:
    """TEST::1, registered with a stake and a capability document in the store."""
    driver = ScriptedProvider(chain.client, dev_account(PROVIDER), store)
    driver.register()
    return driver


@pytest.fixture
def post(requester: Requester, provider: ScriptedProvider) -> Callable[..., int]:
    """Post a small job as TEST::0 through the API; returns its id."""

    def make(**terms: object) -> int:
        options: dict[str, object] = {
            "image": IMAGE,
            "command": "sh -c 'echo hi > /out/hello'",
            "price": "0.01",
        }
        options.update(terms)
        return requester.post(**options).id  # type: ignore[arg-type]

    return make
