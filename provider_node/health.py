"""``/healthz`` and ``provider-node health``: is this node able to do its work right now?

Healthy (HTTP 200) only when all of these hold:

* ``chain``: the RPC answers (``eth_blockNumber``);
* ``docker``: the Docker engine answers a ping;
* ``store``: the content store answers (Kubo: ``version``; the embedded store: its folder is
  there and writable);
* ``events``: the event cursor is within ``--health-max-lag`` blocks of the confirmed head
  (:func:`provider_node.metrics.head_lag`), i.e. the node is not stuck or far behind.

Otherwise HTTP 503, one line per failing check (``chain: ...``). Every probe has its own short
timeout and all run side by side within :data:`BUDGET_S`, so a probe never hangs on a dead
service: a check that has not answered by then fails as "no answer". While the node starts
(journal and chain reconciliation) or stops, ``node: starting`` / ``node: stopping`` is the
failing line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import requests
from web3 import HTTPProvider, Web3

from jobmarket.chain.client import MarketClient
from jobmarket.content.kubo import KuboStore
from jobmarket.content.store import ContentStore
from jobmarket.docker_engine import engine_host
from jobmarket.errors import Unreachable
from provider_node.context.listen import HttpListener, ListenAddress
from provider_node.metrics import NodeMetrics, head_lag, install, uninstall

if TYPE_CHECKING:
    from provider_node.context.runtime import Runtime
    from provider_node.journal.store import Journal

# Each probe's own timeout, and the most a whole health answer may take.
PROBE_TIMEOUT_S = 2.0
BUDGET_S = 3.0
DEFAULT_URL = "http://127.0.0.1:9464"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'failing'}, {self.detail}"


def quick_web3(url: str, timeout: float = PROBE_TIMEOUT_S) -> Web3:
    """A web3 for probes: a short timeout and no retries (the node's own client retries)."""
    return Web3(
        HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
    )


def _problem(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


class HealthChecks:
    """The probes of one node, each bounded in time."""

    def __init__(
        self,
        *,
        rpc_url: str,
        market: str,
        account: str,
        journal: Journal,
        start_block: int,
        confirmations: int,
        max_lag: int,
        store: ContentStore,
        docker_api_version: str,
    ) -> None:
        self.w3 = quick_web3(rpc_url)
        self.market = MarketClient(self.w3, market)
        self.account = account
        self.journal = journal
        self.start_block = start_block
        self.confirmations = confirmations
        self.max_lag = max_lag
        self.store_location = store.location
        self._docker = docker.APIClient(
            base_url=engine_host(), version=docker_api_version, timeout=PROBE_TIMEOUT_S
        )
        self._store_probe = _store_probe(store)
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="healthz")
        self._lock = threading.Lock()

    @classmethod
    def of(cls, rt: Runtime, start_block: int) -> HealthChecks:
        """The checks of the running node ``rt``, whose follower starts at ``start_block``."""
        return cls(
            rpc_url=str(rt.client.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
            market=rt.client.address,
            account=rt.me,
            journal=rt.journal,
            start_block=start_block,
            confirmations=rt.settings.confirmations,
            max_lag=rt.settings.health_max_lag,
            store=rt.store,
            docker_api_version=rt.executor.client.api.api_version,
        )

    # bounded chain reads the metrics use as well
    def block_time(self, number: int) -> int:
        return int(self.w3.eth.get_block(number)["timestamp"])

    def stake(self) -> tuple[int, int]:
        info = self.market.provider_info(self.account)
        return info.free, info.locked

    def run(self) -> list[Check]:
        """Every check's result (the chain's first), within :data:`BUDGET_S`."""
        with self._lock:  # concurrent probes share the clients: one evaluation at a time
            futures = {
                "chain": self._pool.submit(lambda: int(self.w3.eth.block_number)),
                "docker": self._pool.submit(self._docker.ping),
                "store": self._pool.submit(self._store_probe),
            }
            results: dict[str, object] = {}
            checks = []
            for name, future in futures.items():
                try:
                    results[name] = future.result(timeout=BUDGET_S)
                except FutureTimeout:
                    checks.append(Check(name, False, f"no answer within {BUDGET_S:g} s"))
                except Exception as err:
                    checks.append(Check(name, False, self._failure(name, err)))
                else:
                    checks.append(Check(name, True, self._success(name, results[name])))
            head = results.get("chain")
            if isinstance(head, int):
                checks.append(self._events(head))
            return checks

    def _failure(self, name: str, err: BaseException) -> str:
        where = {
            "chain": f"the RPC at {self.w3.provider.endpoint_uri} does not answer",  # type: ignore[attr-defined]
            "docker": f"the Docker engine at {engine_host()} does not answer",
            "store": f"the content store at {self.store_location} does not answer",
        }[name]
        return f"{where} ({_problem(err)})"

    def _success(self, name: str, value: object) -> str:
        if name == "chain":
            return f"head block {value}"
        if name == "docker":
            return f"engine at {engine_host()} answers"
        return f"{self.store_location} answers"

    def _events(self, head: int) -> Check:
        cursor = self.journal.next_block(self.start_block) - 1
        lag = head_lag(head, cursor, self.confirmations)
        limit = self.max_lag
        detail = f"events read up to block {cursor}, head {head}: {lag} blocks behind"
        if lag > limit:
            return Check("events", False, f"{detail} (more than --health-max-lag {limit})")
        return Check("events", True, detail)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._docker.close()


def _store_probe(store: ContentStore) -> Callable[[], object]:
    """A bounded look at the store: Kubo's ``version`` with a short timeout and no retries; the
    embedded store's folder there and writable."""
    if isinstance(store, KuboStore):
        quick = KuboStore(store.base_url, timeout=PROBE_TIMEOUT_S, retries=0)
        return quick.version
    root = Path(store.location)

    def embedded() -> object:
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is missing")
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(f"{root} is not writable")
        return True

    return embedded


class NodeHealth:
    """What ``/healthz`` answers over a node's life: starting, running (the checks), stopping."""

    def __init__(self) -> None:
        self.checks: HealthChecks | None = None
        self.stop: threading.Event | None = None

    def attach(self, checks: HealthChecks, stop: threading.Event) -> None:
        self.checks, self.stop = checks, stop

    def evaluate(self) -> tuple[bool, list[str]]:
        """(healthy, lines): every check's line when healthy, the failing ones otherwise."""
        if self.stop is not None and self.stop.is_set():
            return False, ["node: failing, stopping"]
        if self.checks is None:
            return False, ["node: failing, starting (reconciling the journal with the chain)"]
        checks = self.checks.run()
        failing = [c.line for c in checks if not c.ok]
        return (not failing), failing or [c.line for c in checks]

    def response(self, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        healthy, lines = self.evaluate()
        body = "".join(line + "\n" for line in lines).encode()
        return (200 if healthy else 503), "text/plain; charset=utf-8", body


def probe(url: str, timeout: float = BUDGET_S + 2) -> tuple[bool, list[str]]:
    """Ask a node's ``/healthz`` (``url`` is the listener's base URL or the full path):
    (healthy, its lines). Unreachable when nothing answers there."""
    target = url.rstrip("/")
    if not target.endswith("/healthz"):
        target += "/healthz"
    try:
        response = requests.get(target, timeout=timeout)
    except requests.RequestException as err:
        raise Unreachable(
            f"nothing answers at {target} ({type(err).__name__})",
            "is `provider-node run --metrics-listen HOST:PORT` running there?",
        ) from None
    if response.status_code not in (200, 503):
        raise Unreachable(
            f"{target} answered HTTP {response.status_code}, not a node's health",
            "point --url at the address given to --metrics-listen",
        )
    lines = [line for line in response.text.splitlines() if line.strip()]
    return response.status_code == 200, lines


class OperatorListener:
    """``--metrics-listen``: ``/metrics`` and ``/healthz`` on one listener, bound before the
    node starts (a taken port fails at once; meanwhile ``/healthz`` says ``starting``)."""

    def __init__(self, address: ListenAddress) -> None:
        self.metrics = NodeMetrics()
        self.health = NodeHealth()
        self._checks: HealthChecks | None = None
        self.listener = HttpListener(
            address, {"/metrics": self._scrape, "/healthz": self.health.response}
        )
        install(self.metrics)
        self.listener.start()

    @property
    def url(self) -> str:
        return self.listener.url

    def attach(self, rt: Runtime, start_block: int) -> None:
        """The node is up: checks and scrape-time readings use its runtime from now on."""
        self._checks = HealthChecks.of(rt, start_block)
        self.metrics.attach(rt, block_time=self._checks.block_time, stake=self._checks.stake)
        self.health.attach(self._checks, rt.stop)

    def _scrape(self, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        content_type, body = self.metrics.exposition(headers.get("Accept"))
        return 200, content_type, body

    def close(self) -> None:
        self.listener.close()
        uninstall(self.metrics)
        if self._checks is not None:
            self._checks.close()
