"""A provider node run as a child process: started, stopped, killed, its structured log read.

``make demo``, the benchmarks and the test suites all drive real ``provider-node run``
processes through this one class::

    from provider_node.dev.child import ProviderNode, register_provider

    register_provider(rpc_url, home, account="TEST::1", stake="1 ether")
    with ProviderNode(rpc_url=rpc_url, home=home, account="TEST::1") as node:
        ...                                      # post a job with the requester tools
        node.wait_for_step(job_id, "submitted")  # the node's journaled steps, from its log
    # leaving the block stops the node with SIGTERM (SIGKILL if it does not stop)

``home`` is the ``$JOBMARKET_HOME`` the node uses: share it with the requester side so both
see the same deployment record and the same embedded content store. The node needs a
reachable Docker engine with the job image (``jobmarket.docker_engine.ensure_engine()`` and
``ensure_image()``) and runs as root (the executor mounts a size-limited /out per job).

Log lines are logfmt (``event=step job=3 step=claimed ...``); :meth:`ProviderNode.events`
parses them. ``crash_at`` sets the node's test hook ``JOBMARKET_NODE_CRASH_AT`` (see
``provider_node/dev/crashpoints.py``): the node SIGKILLs itself at that point.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from provider_node.dev.crashpoints import CRASH_ENV

DEFAULT_ACCOUNT = "TEST::1"
_PAIR = re.compile(r'([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"|\S*)')


class NodeFailed(AssertionError):
    """The node exited or did not reach the expected point; carries the log's tail."""


def parse_logfmt(line: str) -> dict[str, Any]:
    """One log line as a dict (quoted values unquoted; everything else stays a string)."""
    fields: dict[str, Any] = {}
    for key, raw in _PAIR.findall(line):
        fields[key] = json.loads(raw) if raw.startswith('"') else raw
    return fields


def node_env(rpc_url: str, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a node process: ours, pointed at ``home`` and ``rpc_url``."""
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env.update(
        JOBMARKET_HOME=str(home),
        JOBMARKET_RPC_URL=rpc_url,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def provider_node_cli(
    args: Sequence[str],
    *,
    rpc_url: str,
    home: Path,
    account: str = DEFAULT_ACCOUNT,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 120,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run one ``provider-node`` command (``register``, ``status``, ...) to completion;
    ``prefix`` runs it elsewhere, e.g. inside a test host's network namespace."""
    command, *rest = args
    completed = subprocess.run(
        [*prefix, sys.executable, "-m", "provider_node", command, "--account", account, *rest],
        env=node_env(rpc_url, home, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and completed.returncode != 0:
        raise NodeFailed(
            f"provider-node {' '.join(args)} exited with {completed.returncode}: "
            f"{completed.stderr.strip()[-2000:]}"
        )
    return completed


def register_provider(
    rpc_url: str,
    home: Path,
    *,
    account: str = DEFAULT_ACCOUNT,
    stake: str = "1 ether",
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> str:
    """``provider-node register --stake STAKE`` (accepting any image); returns its output."""
    result = provider_node_cli(
        ["register", "--stake", stake, *args],
        rpc_url=rpc_url,
        home=home,
        account=account,
        env=env,
        prefix=prefix,
    )
    return result.stdout.strip()


class ProviderNode:
    """One ``provider-node run`` child process; restartable, with its log in a file."""

    def __init__(
        self,
        *,
        rpc_url: str,
        home: Path,
        account: str = DEFAULT_ACCOUNT,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.rpc_url = rpc_url
        self.home = Path(home)
        self.account = account
        self.args = list(args)
        self.env = dict(env or {})
        self.prefix = list(prefix)  # e.g. a test host's ``nsenter --net=… --``
        safe = re.sub(r"[^A-Za-z0-9]+", "-", account).strip("-").lower()
        self.log_path = log_path or self.home / f"provider-node-{safe}.log"
        self.process: subprocess.Popen[bytes] | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(
        self, *, crash_at: str | None = None, wait_ready: bool = True, timeout: float = 60
    ) -> ProviderNode:
        """Start the node (with the crash test hook if ``crash_at``); wait for ``ready``."""
        if self.running:
            raise RuntimeError("the node is already running")
        extra = dict(self.env)
        if crash_at:
            extra[CRASH_ENV] = crash_at
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        mark = self.mark()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "provider_node", "run",
                 "--account", self.account, *self.args],
                env=node_env(self.rpc_url, self.home, extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        if wait_ready:
            self.wait_for(lambda e: e.get("event") == "ready", timeout=timeout, since=mark)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait (the node's clean shutdown); SIGKILL after ``timeout``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> int | None:
        """SIGKILL: no shutdown at all (a crash)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for the process to end on its own (e.g. a crash hook); its exit status."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise NodeFailed(f"the node did not exit within {timeout} s\n{self.tail()}") from None

    def restart(self, **start_options: Any) -> ProviderNode:
        self.stop()
        return self.start(**start_options)

    def __enter__(self) -> ProviderNode:
        return self if self.running else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the log -----------------------------------------------------------------------------

    def lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def mark(self) -> int:
        """A position in the log: pass it as ``since`` to ignore what came before."""
        return len(self.lines())

    def events(
        self, event: str | None = None, since: int = 0, **match: Any
    ) -> list[dict[str, Any]]:
        """Parsed log lines (after ``since``), optionally of one event and matching fields."""
        found = []
        for line in self.lines()[since:]:
            fields = parse_logfmt(line)
            if event is not None and fields.get("event") != event:
                continue
            if all(str(fields.get(key)) == str(value) for key, value in match.items()):
                found.append(fields)
        return found

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.lines()[-count:])

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 60,
        since: int = 0,
    ) -> dict[str, Any]:
        """The first log event (after ``since``) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for fields in self.events(since=since):
                if predicate(fields):
                    return fields
            if self.process is not None and self.process.poll() is not None:
                raise NodeFailed(f"the node exited with {self.process.returncode}\n{self.tail()}")
            if time.monotonic() > deadline:
                raise NodeFailed(f"timed out after {timeout} s\n{self.tail()}")
            time.sleep(0.05)

    def wait_for_step(
        self, job_id: int, step: str, *, timeout: float = 60, since: int = 0
    ) -> dict[str, Any]:
        """Wait until the node logs that job ``job_id`` reached ``step`` (e.g. "submitted")."""
        return self.wait_for(
            lambda e: e.get("event") == "step" and e.get("job") == str(job_id)
            and e.get("step") == step,
            timeout=timeout,
            since=since,
        )  # fmt: skip

    def steps_of(self, job_id: int) -> list[str]:
        """The steps job ``job_id`` went through, in order, as logged."""
        return [e["step"] for e in self.events("step", job=job_id)]

    # -- queries -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """``provider-node status --json`` for this node's account (exit 1 only says that no
        node is running: the JSON is printed either way)."""
        result = provider_node_cli(
            ["status", "--json"],
            rpc_url=self.rpc_url,
            home=self.home,
            account=self.account,
            env=self.env,
            check=False,
        )
        if result.returncode not in (0, 1) or not result.stdout.strip():
            raise NodeFailed(
                f"provider-node status --json exited with {result.returncode}: "
                f"{result.stderr.strip()[-2000:]}"
            )
        return json.loads(result.stdout)
