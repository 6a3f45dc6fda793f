"""A local development chain: the pinned anvil binary as a child process, and a fresh JobMarket.

``make demo``, the benchmarks and the integration tests all start their chain here, so they
behave the same way: anvil on a free port (or a given one), optionally mining on an interval,
and a JobMarket deployed from the bundled artifact and recorded for that chain.

A port somebody else already listens on is refused before anything starts, and the chain that
answers must be served by our own child: otherwise a failed anvil (it exits with "address in
use") would leave the readiness probe talking to the other program's chain, and we would deploy
onto it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError

from jobmarket.chain import artifact, deployments
from jobmarket.chain.client import ZERO_ADDRESS, revert_reason
from jobmarket.chain.deployments import (
    DEFAULT_ABANDON_SLASH_BPS,
    DEFAULT_ARBITER_WINDOW_S,
    DEFAULT_COLLATERAL_BPS,
    Deployment,
)
from jobmarket.errors import NotFound, Unreachable, UserError
from jobmarket.terminal import printable

REPO_ANVIL = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "anvil"
START_TIMEOUT_S = 20.0
PR_SET_PDEATHSIG = 1
HOST = "127.0.0.1"
# How long to wait for whatever already listens on a port to say what it is.
PROBE_TIMEOUT_S = 1.0
# /proc/net/tcp{,6}: the state of a listening socket.
TCP_LISTEN = "0A"


def anvil_binary() -> str:
    """The anvil to run: on PATH (``make install`` links the pinned one), else the repo's."""
    found = shutil.which("anvil") or (str(REPO_ANVIL) if REPO_ANVIL.exists() else None)
    if found is None:
        raise NotFound("anvil is not installed", "run `make install` (it installs anvil 1.7.1)")
    return found


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the process that started us dies (Linux prctl), so a
    killed demo, benchmark or test never leaves an anvil behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class PortInUse(UserError):
    """The port a local chain was asked for is taken by another program."""


def check_port_free(port: int) -> None:
    """Raise :class:`PortInUse`, saying who listens there, unless anvil could bind ``port``.

    The test binds the way anvil does (``SO_REUSEADDR``), so only a live listener counts, not
    a socket of a recently stopped process still in TIME_WAIT.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            return
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise PortInUse(
                    f"cannot listen on {HOST}:{port}: {err.strerror}",
                    f"choose another port with --port (a free one: {free_port()})",
                ) from None
    raise PortInUse(
        f"port {port} on {HOST} is already in use by {describe_listener(port)}",
        f"stop that program, or choose another port with --port (a free one: {free_port()})",
    )


def describe_listener(port: int) -> str:
    """What listens on ``port``, in words: the Ethereum node it is, and its process if visible."""
    what = _describe_rpc(port)
    owners = [f"process {pid} `{printable(command)}`" for pid, command in _listener_processes(port)]
    return ", ".join([what, *owners])


def _describe_rpc(port: int) -> str:
    w3 = Web3(
        Web3.HTTPProvider(
            f"http://{HOST}:{port}",
            request_kwargs={"timeout": PROBE_TIMEOUT_S},
            exception_retry_configuration=None,
        )
    )
    try:
        client = printable(w3.client_version)[:80]
        chain_id, block = int(w3.eth.chain_id), int(w3.eth.block_number)
    except Exception:  # anything but a JSON-RPC answer means "not a node"
        return "a program that does not answer Ethereum JSON-RPC"
    return f"an Ethereum node ({client}, chain {chain_id}, block {block})"


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on ``port`` (any address), or None where /proc cannot tell."""
    inodes: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == TCP_LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes if readable else None


def _socket_inodes_of(pid: int) -> set[str]:
    """The socket inodes process ``pid`` holds open (empty where we may not look)."""
    found = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(target[len("socket:[") : -1])
    except OSError:
        pass
    return found


def _listener_processes(port: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes listening on ``port`` that we are allowed to see."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _socket_inodes_of(int(entry.name)) & inodes:
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                raw = b""
            command = raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"
            found.append((int(entry.name), command[:120]))
    return found


def _serves_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on ``port`` (True where /proc cannot
    tell: the port was free just before, so the listener is almost certainly ours)."""
    inodes = _listening_inodes(port)
    return inodes is None or bool(_socket_inodes_of(pid) & inodes)


@dataclass
class Anvil:
    """An anvil child process; ``block_time`` None mines a block per transaction."""

    port: int = field(default_factory=free_port)
    block_time: float | None = None
    host: str = HOST  # another local address for test networks (tests/support/netns.py)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    # Fork another chain (``--fork-url``, loopback only here), at a block (``--fork-block``),
    # and/or take a chain id of another network (a fork keeps the forked chain's id).
    fork_url: str | None = None
    fork_block: int | None = None
    chain_id: int | None = None
    # Keep the chain in this file (``--state``): written when anvil stops, loaded when it
    # starts, so a stopped anvil can come back on its port with every block (outage tests).
    state_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Anvil:
        """Start anvil and wait until it answers; refuses a port another program listens on."""
        check_port_free(self.port)
        command = [anvil_binary(), "--port", str(self.port), "--host", self.host]
        if self.block_time is not None:
            command += ["--block-time", str(self.block_time)]
        if self.fork_url is not None:
            command += ["--fork-url", self.fork_url]
        if self.fork_block is not None:
            command += ["--fork-block-number", str(self.fork_block)]
        if self.chain_id is not None:
            command += ["--chain-id", str(self.chain_id)]
        if self.state_path is not None:
            command += ["--state", str(self.state_path)]
        # The child keeps its own copy of the log's descriptor; ours is closed once it runs.
        with open(self.log_path, "ab") if self.log_path else nullcontext() as log:
            self.process = subprocess.Popen(
                command,
                stdout=log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if _listening_inodes(self.port):
                    raise PortInUse(
                        f"port {self.port} on {HOST} was taken by "
                        f"{describe_listener(self.port)} while anvil started",
                        f"stop that program, or choose another port with --port "
                        f"(a free one: {free_port()})",
                    )
                raise Unreachable(
                    f"anvil exited at start with code {self.process.returncode}",
                    f"see {self.log_path}" if self.log_path else "run it by hand to see why",
                )
            try:
                w3.eth.chain_id  # noqa: B018 - readiness probe
            except Exception:
                time.sleep(0.05)
                continue
            # Something answers; only our own anvil's chain will do (see the module docstring).
            if _serves_port(self.process.pid, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise Unreachable(f"anvil did not answer on {self.url} within {START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def deploy_market(
    w3: Web3,
    deployer: LocalAccount | None,
    *,
    arbiter: str,
    arbiter_window: int = DEFAULT_ARBITER_WINDOW_S,
    collateral_bps: int = DEFAULT_COLLATERAL_BPS,
    abandon_slash_bps: int = DEFAULT_ABANDON_SLASH_BPS,
    token: str = ZERO_ADDRESS,
    record: bool = True,
    sender: str | None = None,
    sign: Callable[[dict[str, Any]], bytes] | None = None,
    receipt_timeout_s: float = 120,
) -> Deployment:
    """Deploy JobMarket from the bundled artifact and (by default) record it for this chain.

    Signs with ``deployer``, or with ``sign`` (raw signed bytes) for ``sender`` (an ape account
    in ``ape run deploy``). The receipt is awaited however the chain mines (on every
    transaction or on an interval) and the contract's code checked at its address.
    ``token`` is the ERC-20 the market pays in; the zero address (default) means ETH.
    """
    if deployer is not None:
        sender = deployer.address
        sign = lambda tx: bytes(deployer.sign_transaction(tx).raw_transaction)  # noqa: E731
    if sender is None or sign is None:
        raise TypeError("give a deployer account, or a sender and a sign function")
    bundle = artifact.bundle_json()
    factory = w3.eth.contract(abi=bundle["abi"], bytecode=bundle["deploymentBytecode"]["bytecode"])
    constructor = factory.constructor(
        arbiter, arbiter_window, collateral_bps, abandon_slash_bps, token
    )
    try:  # estimated while building: a constructor that reverts stops here, nothing sent
        tx = constructor.build_transaction(
            {"from": sender, "nonce": w3.eth.get_transaction_count(sender, "pending")}
        )
    except ContractLogicError as err:
        raise UserError(
            f"the contract refuses these deployment arguments: {revert_reason(err)}",
            "check --token (an ERC-20 with decimals() of at most 18) and the other arguments; "
            "nothing was sent",
        ) from None
    tx_hash = w3.eth.send_raw_transaction(sign(dict(tx)))
    receipt = w3.eth.wait_for_transaction_receipt(
        tx_hash, timeout=receipt_timeout_s, poll_latency=0.05
    )
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or not address or not w3.eth.get_code(address):
        raise UserError(
            f"the deployment transaction {HexBytes(tx_hash).to_0x_hex()} did not create a "
            f"contract (status {receipt['status']})",
            "check the deployer's balance and the constructor arguments; nothing was recorded",
        )
    block = w3.eth.get_block(receipt["blockNumber"])
    deployment = Deployment(
        chain_id=int(w3.eth.chain_id),
        address=str(address),
        block_number=int(receipt["blockNumber"]),
        tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
        deployer=sender,
        arbiter=arbiter,
        genesis_hash=HexBytes(w3.eth.get_block(0)["hash"]).to_0x_hex(),
        timestamp=int(block["timestamp"]),
    )
    if record:
        deployments.record(deployment)
    return deployment


def serve(
    port: int,
    block_time: float | None,
    fork_url: str | None = None,
    fork_block: int | None = None,
) -> None:
    """Run a local chain with a fresh JobMarket until Ctrl-C (``make chain``).

    With ``fork_url`` anvil forks that chain (at ``fork_block``, else its head): the fork keeps
    the forked chain's id and state, and still pre-funds anvil's test accounts.
    """
    import click

    from jobmarket.chain.accounts import test_account

    with Anvil(port=port, block_time=block_time, fork_url=fork_url, fork_block=fork_block) as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        deployment = deploy_market(w3, test_account(0), arbiter=test_account(9).address)
        forked = f", a fork of {fork_url}" if fork_url else ""
        click.echo(f"anvil at {anvil.url} (chain {deployment.chain_id}{forked})")
        click.echo(f"JobMarket at {deployment.address}, recorded in {deployments.user_file()}")
        click.echo("accounts: TEST::0 deployer/owner, TEST::9 arbiter, any other TEST::N to use")
        click.echo("stop with Ctrl-C (the chain and its contract go away with it)")
        try:
            anvil.process.wait()  # type: ignore[union-attr]
        except KeyboardInterrupt:
            click.echo("stopping anvil")


def main() -> None:
    """``python -m jobmarket.devnet``: the command line of :func:`serve`."""
    command_line()()


def command_line() -> Any:
    """The click command of ``python -m jobmarket.devnet`` (built on demand: click is not
    imported by library users of this module)."""
    import click

    from jobmarket.cli import ErrorReportingCommand

    @click.command(
        cls=ErrorReportingCommand, context_settings={"help_option_names": ["-h", "--help"]}
    )
    @click.option(
        "--port",
        type=click.IntRange(1, 65535),
        default=8545,
        show_default=True,
        help="Port of the local chain on 127.0.0.1 (refused if another program listens on it).",
    )
    @click.option("--block-time", type=float, default=None, help="Seconds per block [automine].")
    @click.option(
        "--fork-url",
        metavar="URL",
        help="Fork the chain at this RPC URL (keeps its chain id; test accounts still funded).",
    )
    @click.option(
        "--fork-block", type=int, metavar="N", help="Fork at this block [the forked chain's head]."
    )
    def _main(
        port: int, block_time: float | None, fork_url: str | None, fork_block: int | None
    ) -> None:
        """A local anvil with a freshly deployed JobMarket, for trying the CLIs by hand."""
        if fork_block is not None and fork_url is None:
            raise UserError(
                "--fork-block needs --fork-url", "give the RPC URL of the chain to fork"
            )
        serve(port, block_time, fork_url, fork_block)

    return _main


if __name__ == "__main__":
    main()
