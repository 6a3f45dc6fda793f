"""`make demo`: the whole marketplace on one machine, end to end, in well under a minute.

A local chain (anvil, one block per second), a freshly deployed JobMarket, a provider node that
stakes and listens, and a requester that posts a job with an input file, follows it live,
downloads and verifies the output, accepts it, and prints balances and the gas of every step.
Everything it starts is stopped at the end, on Ctrl-C too. Exit 0 only when the output verified.

State lives in ``.run/demo/`` (recreated on every run): the chain's deployment record, the
embedded content store, the node's journal and log (``node.log``).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from jobmarket.chain.accounts import load_account
from jobmarket.chain.client import MarketClient
from jobmarket.chain.rpc import connect
from jobmarket.devnet import Anvil, deploy_market
from jobmarket.docker_engine import ensure_engine, ensure_image
from jobmarket.errors import UserError
from provider_node.dev.child import ProviderNode, parse_logfmt, register_provider
from requester import Requester
from requester.history import JobStep
from requester.status import JobStatus

REPO = Path(__file__).resolve().parent.parent
RUN_DIR = REPO / ".run" / "demo"
INPUT = REPO / "demo" / "data" / "poem.txt"
IMAGE = "jobmarket/busybox:1"
COMMAND = (
    "sh -c 'wc -l -w < /in/poem.txt > /out/counts.txt"
    " && tr a-z A-Z < /in/poem.txt > /out/shout.txt'"
)
PROVIDER, REQUESTER, DEPLOYER, ARBITER = "TEST::1", "TEST::2", "TEST::0", "TEST::9"


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say(f"\n== {text}")


class DemoFailed(Exception):
    """A step of the demo did not produce what it should; the message says which."""


class StepEcho:
    """Prints the node's job steps (from its structured log) while the demo runs."""

    def __init__(self, node: ProviderNode) -> None:
        self.node = node
        self.seen = node.mark()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.05):
            self.flush()

    def flush(self) -> None:
        lines = self.node.lines()
        for line in lines[self.seen :]:
            fields = parse_logfmt(line)
            if fields.get("event") == "step":
                extras = " ".join(
                    f"{key}={value}"
                    for key, value in fields.items()
                    if key not in ("ts", "level", "event", "job", "step")
                )
                say(f"   node | job {fields.get('job')} {fields.get('step'):<10} {extras}")
        self.seen = len(lines)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.flush()


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.6f} ETH"


def run() -> None:
    heading("Docker engine and the job image")
    ensure_engine()
    ensure_image(IMAGE)
    say(f"   engine reachable; image {IMAGE} present (built locally, no registry needed)")

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    os.environ["JOBMARKET_HOME"] = str(RUN_DIR)

    heading("Local chain")
    with Anvil(block_time=1, log_path=RUN_DIR / "anvil.log") as anvil:
        os.environ["JOBMARKET_RPC_URL"] = anvil.url
        say(f"   anvil 1.7.1 at {anvil.url}, one block per second")
        w3 = connect(anvil.url)
        chain_id = int(w3.eth.chain_id)
        deployer = load_account(DEPLOYER, chain_id)
        arbiter = load_account(ARBITER, chain_id)
        deployment = deploy_market(w3, deployer, arbiter=arbiter.address)
        client = MarketClient(w3, deployment.address, deployment)
        say(f"   JobMarket deployed at {deployment.address} (recorded for chain {chain_id})")

        provider = load_account(PROVIDER, chain_id).address
        requester_address = load_account(REQUESTER, chain_id).address

        heading("Provider: register with a 1 ETH stake, then start the node")
        say("   " + register_provider(anvil.url, RUN_DIR, account=PROVIDER, stake="1 ether"))
        before = {
            "requester": client.balance(requester_address),
            "provider wallet": client.balance(provider),
            "provider stake": client.provider_info(provider).stake,
        }
        node = ProviderNode(
            rpc_url=anvil.url, home=RUN_DIR, account=PROVIDER, log_path=RUN_DIR / "node.log"
        )
        echo = None
        try:
            node.start()
            say(f"   provider node {provider} is listening (log: {node.log_path})")
            echo = StepEcho(node)
            _requester_round_trip(anvil.url, before, client, provider, requester_address)
        finally:
            if echo is not None:
                echo.stop()
            heading("Shutting down")
            node.stop()
            say("   provider node stopped; anvil stopping")


def _requester_round_trip(
    rpc_url: str,
    before: dict[str, int],
    client: MarketClient,
    provider: str,
    requester_address: str,
) -> None:
    heading(f"Requester: post a job with input {INPUT.relative_to(REPO)}")
    say(f"   image {IMAGE}")
    say(f"   command {COMMAND}")
    started = time.monotonic()
    with Requester.connect(rpc_url=rpc_url, account=REQUESTER) as me:
        job = me.post(
            image=IMAGE,
            command=COMMAND,
            inputs=[str(INPUT)],
            price="0.01",
            timeout="60s",
            claim_within="2m",
            review_window="1h",
        )
        say(f"   posted job {job.id}, price 0.01 ETH escrowed by the contract")

        def on_step(step: JobStep, status: JobStatus) -> None:
            elapsed = time.monotonic() - started
            say(f"   {elapsed:5.1f}s  block {step.block_number:>4}  {step.summary}")

        heading("Live progress (each on-chain step as it happens)")
        job.wait(on_step=on_step, timeout=120)

        heading("Results: download and verify against the manifest and the on-chain digest")
        destination = RUN_DIR / f"result-{job.id}"
        manifest = job.results(destination)
        say(
            f"   status {manifest.status}, exit code {manifest.exit_code}, "
            f"ran {manifest.runtime_s:.2f} s"
        )
        for record in manifest.outputs:
            say(f"   verified {record.path} ({record.size} bytes, sha256 {record.sha256[:16]}…)")
        counts = (destination / "outputs" / "counts.txt").read_text().split()
        shout = (destination / "outputs" / "shout.txt").read_text()
        text = INPUT.read_text()
        if counts != [str(len(text.splitlines())), str(len(text.split()))] or shout != text.upper():
            raise DemoFailed(f"the outputs in {destination} do not match the input")
        say(f"   counts.txt: {' '.join(counts)} (lines, words) — matches the input")
        say(f"   shout.txt:  {shout.splitlines()[0]} …")

        heading("Accept: the provider is paid")
        record = job.accept()
        say(f"   accepted in transaction {record.tx_hash}")
        status = job.status()  # its steps, read back from the chain, give the gas table below
        say(f"   job {job.id} is {status.state.name}")

    heading("Balances (wallet = account balance; stake = held by the contract)")
    after = {
        "requester": client.balance(requester_address),
        "provider wallet": client.balance(provider),
        "provider stake": client.provider_info(provider).stake,
    }
    for name, value in before.items():
        change = after[name] - value
        say(f"   {name:<16} {_eth(value):>22} -> {_eth(after[name]):>22}  ({change / 10**18:+.6f})")

    heading("Gas of each step")
    for step in status.steps:
        who = "provider" if step.by(provider) else "requester"
        say(f"   {step.event:<18} {who:<10} {step.tx.gas_used:>8,}")
    say(f"   {'total':<29} {sum(step.tx.gas_used for step in status.steps):>8,}")
    heading("Demo passed: the output was verified and the provider was paid")


def main() -> int:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        run()
    except KeyboardInterrupt:
        say("\ninterrupted: everything the demo started has been stopped")
        return 130
    except DemoFailed as err:
        say(f"\nerror: {err}")
        return 1
    except UserError as err:
        say(f"\nerror: {err.message}")
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
