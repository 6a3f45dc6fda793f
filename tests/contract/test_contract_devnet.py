"""`python -m jobmarket.devnet` (`make chain`) deploys onto its own anvil, never onto another chain.

When another program already listened on the requested port, the new anvil failed to bind and
exited, but the readiness probe reached the other program's chain first: the market was
deployed there, recorded, and the command exited 0. Now the port is refused up front with one
error line saying who listens there, and a chain that answers counts only if our own child
holds the listening socket. Every occupant here is real (an anvil, a plain TCP listener).
"""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from jobmarket import devnet
from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.devnet import Anvil, PortInUse

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, JOBMARKET_HOME=str(home), PYTHONUNBUFFERED="1")
    env["JOBMARKET_DEPLOYMENTS"] = str(home / "deployments.json")
    return env


def _devnet(port: int, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobmarket.devnet", "--port", str(port)],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


@pytest.fixture
def other_anvil(tmp_path) -> Iterator[Anvil]:
    """Somebody else's chain, already listening."""
    with Anvil(log_path=tmp_path / "other-anvil.log") as anvil:
        yield anvil


def _untouched(anvil: Anvil) -> None:
    """Nothing was sent to the other chain: no block mined, the deployer never used."""
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    assert w3.eth.block_number == 0
    assert w3.eth.get_transaction_count(dev_account(0).address) == 0


def test_a_port_another_anvil_listens_on_is_refused_and_nothing_is_deployed(other_anvil, home):
    result = _devnet(other_anvil.port, home)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(f"error: port {other_anvil.port} on 127.0.0.1 is already in use by ")
    # It says what listens there (the node and its process) and what to do.
    assert "an Ethereum node (anvil/v1.7.1, chain 31337, block 0)" in line
    assert f"process {other_anvil.process.pid} " in line
    assert "choose another port with --port" in line
    assert "JobMarket" not in result.stdout
    assert not (home / "deployments.json").exists()
    _untouched(other_anvil)


def test_a_port_held_by_a_program_that_is_no_chain_is_refused(home):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        result = _devnet(port, home)

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use by ")
    assert "a program that does not answer Ethereum JSON-RPC" in result.stderr
    assert f"process {os.getpid()} " in result.stderr
    assert not (home / "deployments.json").exists()


def test_a_port_taken_while_anvil_starts_is_refused_too(other_anvil, monkeypatch):
    """The second line of defence: a program that grabs the port between the check and anvil's
    own bind. Stand-in (labelled): the up-front check is switched off so that this timing, which
    a real race produces only by chance, happens every time."""
    monkeypatch.setattr(devnet, "check_port_free", lambda port: None)

    with pytest.raises(PortInUse, match=f"port {other_anvil.port} .* while anvil started"):
        Anvil(port=other_anvil.port).start()
    _untouched(other_anvil)


def test_a_free_port_gets_a_fresh_chain_with_the_market_and_ctrl_c_stops_it(home):
    port = devnet.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobmarket.devnet", "--port", str(port)],
        cwd=REPO,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("stop with Ctrl-C"):
                break
        assert lines[0] == f"anvil at http://127.0.0.1:{port} (chain 31337)\n", lines
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
        address = lines[1].split()[2].rstrip(",")
        assert len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0
        assert address in (home / "deployments.json").read_text()

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=TIMEOUT_S) == 0
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
