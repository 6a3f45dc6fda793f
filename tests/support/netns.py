"""Test hosts that share nothing but a network: Linux network namespaces on a private LAN.

:class:`TestNetwork` builds, as root and inside the test run, a LAN of its own:

* a namespace ``<tag>lan`` holding a bridge (its own, empty firewall: Docker's rules on the
  root namespace's FORWARD chain never see this traffic);
* the root namespace on the bridge at ``10.N.0.1`` — the *chain host*: anvil listens there,
  reachable from every test host (the test process itself also reads the chain there);
* one namespace per :meth:`TestNetwork.add_host` (``10.N.0.2``, ``10.N.0.3``, …), linked to
  the bridge by a veth pair, with its own loopback and nothing else.

``N`` is chosen so that ``10.N.0.0/24`` is not routed on this machine yet; the only addresses
ever targeted are these and loopback. A host's processes are started through
:meth:`Host.command` (``nsenter --net``: only the network namespace changes, so a node's
mounts stay visible to dockerd and the Docker socket is the same file). Each host has its own
folder (``JOBMARKET_HOME``), never shared with another. :meth:`TestNetwork.stop` removes
every namespace and link it made.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

NETNS_DIR = Path("/run/netns")


class NetworkSetupFailed(AssertionError):
    """An ``ip`` command failed: the tests need root and iproute2."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise NetworkSetupFailed(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def _routed_subnets() -> list[ipaddress.IPv4Network]:
    done = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip
    subnets = []
    for line in done.stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):
            subnets.append(ipaddress.ip_network(first if first != "default" else "0.0.0.0/32"))
    return subnets


def _free_subnet() -> ipaddress.IPv4Network:
    taken = _routed_subnets()
    candidates = list(range(64, 250))
    random.shuffle(candidates)
    for second in candidates:
        subnet = ipaddress.ip_network(f"10.{second}.0.0/24")
        if not any(subnet.overlaps(other) for other in taken if other.prefixlen > 0):
            return subnet
    raise NetworkSetupFailed("no free 10.N.0.0/24 subnet for the test network")


@dataclass
class Host:
    """One test host: a network namespace, its address on the LAN and its own folder."""

    name: str
    netns: str
    address: str
    folder: Path

    @property
    def home(self) -> Path:
        """This host's ``JOBMARKET_HOME`` (no other host ever reads it)."""
        return self.folder / "jobmarket"

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host's network namespace (and nothing else changed)."""
        return ["nsenter", f"--net={NETNS_DIR / self.netns}", "--", *argv]

    def run(
        self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv), env=env, capture_output=True, text=True, timeout=timeout
        )


@dataclass
class TestNetwork:
    """A private LAN of network namespaces; the root namespace is its chain host."""

    root: Path
    tag: str = field(
        default_factory=lambda: f"jm{os.getpid() % 10000:04d}{random.randrange(36**2):02x}"
    )
    subnet: ipaddress.IPv4Network = field(default_factory=_free_subnet)
    hosts: list[Host] = field(default_factory=list)
    _made: list[str] = field(default_factory=list)
    _root_link: str = ""

    @property
    def lan(self) -> str:
        return f"{self.tag}lan"

    @property
    def chain_address(self) -> str:
        """The root namespace's address on the LAN: where anvil listens."""
        return str(self.subnet.network_address + 1)

    def start(self) -> TestNetwork:
        _ip("netns", "add", self.lan)
        self._made.append(self.lan)
        _ip("-n", self.lan, "link", "set", "lo", "up")
        _ip("-n", self.lan, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.lan, "link", "set", "br0", "up")
        self._root_link = f"{self.tag}r"
        _ip(
            "link",
            "add",
            self._root_link,
            "type",
            "veth",
            "peer",
            "name",
            "root",
            "netns",
            self.lan,
        )
        self._plug("root")
        _ip("addr", "add", f"{self.chain_address}/{self.subnet.prefixlen}", "dev", self._root_link)
        _ip("link", "set", self._root_link, "up")
        return self

    def _plug(self, port: str) -> None:
        _ip("-n", self.lan, "link", "set", port, "master", "br0")
        _ip("-n", self.lan, "link", "set", port, "up")

    def add_host(self, name: str) -> Host:
        """A new namespace ``<tag><name>`` on the LAN at the next address, with its folder."""
        number = len(self.hosts)
        netns = f"{self.tag}{name.lower()}"
        address = str(self.subnet.network_address + 2 + number)
        _ip("netns", "add", netns)
        self._made.append(netns)
        _ip("-n", netns, "link", "set", "lo", "up")
        outer, port = f"{self.tag}h{number}", f"port{number}"
        _ip("link", "add", outer, "type", "veth", "peer", "name", port, "netns", self.lan)
        _ip("link", "set", outer, "netns", netns, "name", "eth0")
        _ip("-n", netns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        self._plug(port)
        folder = self.root / f"host-{name.lower()}"
        (folder / "jobmarket").mkdir(parents=True)
        host = Host(name, netns, address, folder)
        self.hosts.append(host)
        return host

    def stop(self) -> None:
        """Remove every namespace (their links go with them) and the root side's link."""
        for netns in reversed(self._made):
            with contextlib.suppress(NetworkSetupFailed):
                _ip("netns", "del", netns)
        self._made.clear()
        if self._root_link:
            with contextlib.suppress(NetworkSetupFailed):
                _ip("link", "del", self._root_link)  # already gone with its peer, usually
            self._root_link = ""


@contextlib.contextmanager
def test_network(root: Path | None = None) -> Iterator[TestNetwork]:
    """A started :class:`TestNetwork`, removed (with its folders) when the block ends."""
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        raise NetworkSetupFailed("the two-host tests need iproute2 (ip) and util-linux (nsenter)")
    if os.geteuid() != 0:
        raise NetworkSetupFailed("the two-host tests make network namespaces: run them as root")
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jm-hosts-")))
        network = TestNetwork(root)
        stack.callback(network.stop)
        yield network.start()
