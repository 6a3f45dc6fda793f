"""`make demo`: the whole marketplace on one machine, end to end, in well under a minute.

A local chain (anvil, one block per second), a freshly deployed JobMarket, a provider node that
stakes and listens, and a requester that posts a job with an input file, follows it live,
downloads and verifies the output, accepts it, and prints balances and the gas of every step.
Everything it starts is stopped at the end, on Ctrl-C too. Exit 0 only when the output verified.

``make demo TOKEN=1`` (``--token``) runs the same job paid in a test stablecoin: a 6-decimal
ERC-20 with EIP-2612 permit (``contracts/test/TestToken.vy``, "tUSD") is deployed, a market
paying in it, 1,000 tUSD minted to the requester and to the provider; the provider stakes
500 tUSD (approve + ``deposit_stake_token``), the requester posts for 12.5 tUSD with a permit
(one signature, one transaction), and the balances are shown in tUSD, the gas in ETH.

State lives in ``.run/demo/`` (recreated on every run; ``--run-dir`` elsewhere): the chain's
deployment record, the embedded content store, the node's journal and log (``node.log``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from jobmarket.chain.accounts import load_account
from jobmarket.chain.client import ZERO_ADDRESS, MarketClient
from jobmarket.chain.devtoken import deploy_test_token, token_call
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
#: The terms of each way to pay: the job's price and the provider's stake, as typed.
ETH_TERMS = {"price": "0.01", "stake": "1 ether"}
TOKEN_TERMS = {"price": "12.5", "stake": "500"}
TOKEN_MINT = 1_000  # tUSD minted to the requester and to the provider
TOKEN_ENV = "TOKEN"


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


def _deploy_stablecoin(w3, deployer, accounts: list[str]) -> str:
    """A 6-decimal test stablecoin with permit, and 1,000 of it for each of ``accounts``."""
    token = deploy_test_token(w3, deployer, name="Test USD", symbol="tUSD", decimals=6)
    for account in accounts:
        token_call(w3, deployer, token.functions.mint(account, TOKEN_MINT * 10**6))
    say(f"   test stablecoin tUSD (6 decimals, EIP-2612 permit) deployed at {token.address}")
    say(f"   minted {TOKEN_MINT:,} tUSD to the requester and to the provider")
    return str(token.address)


def run(*, paid_in_token: bool = False, run_dir: Path = RUN_DIR) -> None:
    heading("Docker engine and the job image")
    ensure_engine()
    ensure_image(IMAGE)
    say(f"   engine reachable; image {IMAGE} present (built locally, no registry needed)")

    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    os.environ["JOBMARKET_HOME"] = str(run_dir)
    for variable in ("JOBMARKET_MARKET", "JOBMARKET_DEPLOYMENTS"):  # the demo's market only
        os.environ.pop(variable, None)
    terms = TOKEN_TERMS if paid_in_token else ETH_TERMS

    heading("Local chain")
    with Anvil(block_time=1, log_path=run_dir / "anvil.log") as anvil:
        os.environ["JOBMARKET_RPC_URL"] = anvil.url
        say(f"   anvil 1.7.1 at {anvil.url}, one block per second")
        w3 = connect(anvil.url)
        chain_id = int(w3.eth.chain_id)
        deployer = load_account(DEPLOYER, chain_id)
        arbiter = load_account(ARBITER, chain_id)
        provider = load_account(PROVIDER, chain_id).address
        requester_address = load_account(REQUESTER, chain_id).address
        token = (
            _deploy_stablecoin(w3, deployer, [requester_address, provider])
            if paid_in_token
            else ZERO_ADDRESS
        )
        deployment = deploy_market(w3, deployer, arbiter=arbiter.address, token=token)
        client = MarketClient(w3, deployment.address, deployment)
        pays_in = "tUSD" if paid_in_token else "ETH"
        say(
            f"   JobMarket deployed at {deployment.address}, paying in {pays_in} "
            f"(recorded for chain {chain_id})"
        )

        stake = client.currency.format(client.currency.parse_price(terms["stake"]))
        heading(f"Provider: register with a {stake} stake, then start the node")
        say("   " + register_provider(anvil.url, run_dir, account=PROVIDER, stake=terms["stake"]))
        before = _balances(client, requester_address, provider)
        node = ProviderNode(
            rpc_url=anvil.url, home=run_dir, account=PROVIDER, log_path=run_dir / "node.log"
        )
        echo = None
        try:
            node.start()
            say(f"   provider node {provider} is listening (log: {node.log_path})")
            echo = StepEcho(node)
            _requester_round_trip(
                anvil.url,
                before,
                client,
                provider,
                requester_address,
                terms["price"],
                run_dir,
                node,
            )
        finally:
            if echo is not None:
                echo.stop()
            heading("Shutting down")
            node.stop()
            say("   provider node stopped; anvil stopping")


def _balances(client: MarketClient, requester: str, provider: str) -> dict[str, int]:
    """What each party holds: in the market's currency, plus ETH for gas on a token market."""
    held = {
        "requester": client.currency_balance(requester),
        "provider wallet": client.currency_balance(provider),
        "provider stake": client.provider_info(provider).stake,
    }
    if not client.currency.is_eth:
        held["requester ETH"] = client.balance(requester)
        held["provider ETH"] = client.balance(provider)
    return held


def _requester_round_trip(
    rpc_url: str,
    before: dict[str, int],
    client: MarketClient,
    provider: str,
    requester_address: str,
    price: str,
    run_dir: Path,
    node: ProviderNode,
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
            price=price,
            timeout="60s",
            claim_within="2m",
            review_window="1h",
        )
        posted = job.transactions[-1]
        escrowed = client.currency.format(client.job(job.id).price)
        how = " (one signature, one transaction)" if posted.function == "post_job_permit" else ""
        say(f"   posted job {job.id} with {posted.function}{how}: {escrowed} escrowed")

        def on_step(step: JobStep, status: JobStatus) -> None:
            elapsed = time.monotonic() - started
            say(f"   {elapsed:5.1f}s  block {step.block_number:>4}  {step.summary}")

        heading("Live progress (each on-chain step as it happens)")
        job.wait(on_step=on_step, timeout=120)

        heading("Results: download and verify against the manifest and the on-chain digest")
        destination = run_dir / f"result-{job.id}"
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
        node.wait_for_step(job.id, "settled", timeout=60)  # its log line, before the balances
        status = job.status()  # its steps, read back from the chain, give the gas table below
        say(f"   job {job.id} is {status.state.name}")

    heading("Balances (wallet = account balance; stake = held by the contract)")
    after = _balances(client, requester_address, provider)
    currency = client.currency
    for name, value in before.items():
        if currency.is_eth or name.endswith("ETH"):
            shown, change = _eth, f"{(after[name] - value) / 10**18:+.6f}"
        else:
            shown = currency.format
            sign = "+" if after[name] >= value else "-"
            change = f"{sign}{currency.format(abs(after[name] - value))}"
        say(f"   {name:<16} {shown(value):>22} -> {shown(after[name]):>22}  ({change})")

    heading("Gas of each step (paid in ETH)")
    for step in status.steps:
        who = "provider" if step.by(provider) else "requester"
        say(f"   {step.event:<18} {who:<10} {step.tx.gas_used:>8,}")
    say(f"   {'total':<29} {sum(step.tx.gas_used for step in status.steps):>8,}")
    heading("Demo passed: the output was verified and the provider was paid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The whole marketplace on this machine.")
    parser.add_argument(
        "--token",
        action="store_true",
        default=os.environ.get(TOKEN_ENV, "") not in ("", "0"),
        help="pay in a test stablecoin (tUSD, 6 decimals, permit) [env TOKEN=1; make demo TOKEN=1]",
    )
    parser.add_argument(
        "--run-dir", type=Path, default=RUN_DIR, help=f"state folder [default: {RUN_DIR}]"
    )
    options = parser.parse_args(argv)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        run(paid_in_token=options.token, run_dir=options.run_dir)
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
