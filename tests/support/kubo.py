"""Real Kubo daemons for tests: each with its own repo, on loopback only, stopped afterwards.

The binary is the one ``make kubo`` builds (``.kubo/bin/ipfs``; ``JOBMARKET_KUBO`` overrides
it). A daemon's repo is made with ``ipfs init --profile=test`` and then locked down further so
that it dials nothing but what a test tells it to:

* API, gateway and swarm listen on ``127.0.0.1`` with ports the kernel picks (port 0, read
  back from the daemon's own "listening on" lines, so parallel test runs never collide);
* no bootstrap peers, no mDNS, no UPnP/NAT port mapping, no AutoConf, no AutoTLS, no relay,
  no delegated routers and ``Routing.Type=none`` (peers meet only by ``swarm connect``);
* telemetry off (``IPFS_TELEMETRY=off`` and the plugin's config), no providing, no HTTP
  retrieval from providers found elsewhere.

Use :func:`running_kubo` as a context manager, or :class:`KuboDaemon` directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBO_ENV = "JOBMARKET_KUBO"
KUBO_BINARY = REPO_ROOT / ".kubo" / "bin" / "ipfs"
START_TIMEOUT_S = 120.0  # two shared cores: a cold daemon start can take tens of seconds
STOP_TIMEOUT_S = 30.0
_LISTENING = re.compile(r"^(RPC API|Gateway) server listening on (/ip4/[0-9.]+/tcp/\d+)")


def kubo_binary() -> Path:
    """The pinned Kubo built by ``make kubo``; a test fails (never skips) without it."""
    configured = os.environ.get(KUBO_ENV, "").strip()
    binary = Path(configured) if configured else KUBO_BINARY
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"error: no Kubo binary at {binary}; run `make kubo` (builds Kubo from its Go "
            f"module) or set {KUBO_ENV} to an ipfs binary",
            pytrace=False,
        )
    return binary


def _section(config: dict, *path: str) -> dict:
    """``config[path…]`` as a dict, created where Kubo's default config has none (or null)."""
    for key in path:
        if not isinstance(config.get(key), dict):
            config[key] = {}
        config = config[key]
    return config


def _lock_down(config: dict, host: str = "127.0.0.1") -> None:
    """What ``--profile=test`` leaves open, closed: nothing but ``host`` (loopback, or a test
    host's own address, see ``tests/support/netns.py``) is ever listened on or announced."""
    config["Bootstrap"] = []
    _section(config, "Addresses").update(
        API=f"/ip4/{host}/tcp/0",
        Gateway=f"/ip4/{host}/tcp/0",
        Swarm=[f"/ip4/{host}/tcp/0"],
        Announce=[],
        AppendAnnounce=[],
        NoAnnounce=[],
    )
    _section(config, "Discovery", "MDNS")["Enabled"] = False
    _section(config, "Swarm").update(DisableNatPortMap=True, EnableHolePunching=False)
    _section(config, "Swarm", "RelayClient")["Enabled"] = False
    _section(config, "Swarm", "RelayService")["Enabled"] = False
    _section(config, "AutoConf")["Enabled"] = False
    _section(config, "AutoTLS")["Enabled"] = False
    _section(config, "Routing").update(Type="none", DelegatedRouters=[])
    _section(config, "Ipns")["DelegatedPublishers"] = []
    _section(config, "DNS")["Resolvers"] = {}
    _section(config, "Provide")["Enabled"] = False
    _section(config, "HTTPRetrieval")["Enabled"] = False
    _section(config, "Plugins", "Plugins", "telemetry", "Config")["Mode"] = "off"


@dataclass
class KuboDaemon:
    """One ``ipfs daemon`` on its own repo under ``root``; :meth:`stop` removes the repo.

    ``host`` is the address it listens on; ``prefix`` runs it (and every ``ipfs`` command)
    inside a test host's network namespace (``Host.command``)."""

    root: Path
    binary: Path = field(default_factory=kubo_binary)
    host: str = "127.0.0.1"
    prefix: list[str] = field(default_factory=list)
    api_url: str = ""
    gateway_url: str = ""
    peer_id: str = ""
    _process: subprocess.Popen[bytes] | None = None

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def log_path(self) -> Path:
        return self.root / "daemon.log"

    def env(self) -> dict[str, str]:
        """The environment for this daemon and for ``ipfs`` commands against its repo."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("IPFS_")}
        env.update(IPFS_PATH=str(self.repo), IPFS_TELEMETRY="off", DO_NOT_TRACK="1")
        env.pop("API_ORIGIN", None)
        return env

    def ipfs(self, *args: str, input: bytes | None = None, check: bool = True) -> str:
        """Run the ``ipfs`` CLI against this repo (through the daemon's API when it runs)."""
        return self.ipfs_bytes(*args, input=input, check=check).decode()

    def ipfs_bytes(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """:meth:`ipfs` with its output as bytes (``block get``, ``cat``)."""
        done = subprocess.run(
            [*self.prefix, str(self.binary), *args],
            env=self.env(),
            input=input,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        if check and done.returncode:
            raise AssertionError(f"ipfs {' '.join(args)} failed: {done.stderr.decode()}")
        return done.stdout

    def start(self, configure: Callable[[dict], None] | None = None) -> KuboDaemon:
        """Init the repo, apply ``configure`` to its config (then the lock-down), and start."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.ipfs("init", "--profile=test", "--empty-repo")
        config_path = self.repo / "config"
        config = json.loads(config_path.read_text())
        if configure is not None:
            configure(config)
        _lock_down(config, self.host)
        config_path.write_text(json.dumps(config, indent=2))
        self.peer_id = config["Identity"]["PeerID"]
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [*self.prefix, str(self.binary), "daemon", "--migrate=false", "--enable-gc=false"],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if "Daemon is ready" in text:
                for line in text.splitlines():
                    match = _LISTENING.match(line)
                    if match:
                        url = "http://" + _host_port(match[2])
                        if match[1] == "RPC API":
                            self.api_url = url
                        else:
                            self.gateway_url = url
                if self.api_url and self.gateway_url:
                    return
            assert self._process is not None
            if self._process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"ipfs daemon did not start; its output:\n{text}")

    def swarm_addresses(self) -> list[str]:
        """This daemon's listen addresses with its peer id, for ``swarm connect``."""
        answer = json.loads(self.ipfs("id", "--enc=json"))
        return [a for a in answer["Addresses"] if a.startswith(f"/ip4/{self.host}/")]

    def stop(self) -> None:
        """SIGTERM (Kubo shuts down cleanly), SIGKILL if it hangs; then the repo goes."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.repo, ignore_errors=True)


def _host_port(multiaddr: str) -> str:
    parts = multiaddr.strip("/").split("/")
    return f"{parts[1]}:{parts[3]}"


@contextlib.contextmanager
def running_kubo(
    root: Path | None = None, configure: Callable[[dict], None] | None = None
) -> Iterator[KuboDaemon]:
    """A started daemon, stopped and its repo removed when the block ends."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubo-")))
        daemon = KuboDaemon(root)
        stack.callback(daemon.stop)
        yield daemon.start(configure)
