"""What an operator watches: ``--metrics-listen`` serves Prometheus metrics that move as a job
goes from post to payout, and ``/healthz`` (with ``provider-node health``) that fails while
the chain is really gone (anvil stopped) and recovers when it is back. The shipped Grafana
dashboard and systemd unit only use what the node really has."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import time
from configparser import ConfigParser
from pathlib import Path

import docker
import pytest
import requests
from node_world import PRICE, PROVIDER_ADDRESS, Market, shell_job
from prometheus_client.parser import text_string_to_metric_families
from support.node import ProviderNode, node_env

from jobmarket.devnet import free_port
from jobmarket.docker_engine import docker_client
from provider_node.health import HealthChecks, probe
from provider_node.journal.store import Journal

REPO = Path(__file__).resolve().parents[2]
METRICS_PORT = free_port()
METRICS_URL = f"http://127.0.0.1:{METRICS_PORT}"
ANVIL_KEEPS_STATE = True  # anvil is stopped and started again on its port below
NODE_ARGS = ["--metrics-listen", f"127.0.0.1:{METRICS_PORT}"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape() -> Samples:
    """Every sample ``/metrics`` serves, parsed by prometheus_client's own parser."""
    response = requests.get(f"{METRICS_URL}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def gas_of(market: Market, function: str, job_id: int) -> int:
    """Gas the chain's receipts say the provider's ``function`` calls for ``job_id`` used."""
    return sum(
        int(market.w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
        for tx in market.calls(function, PROVIDER_ADDRESS, job_id)
    )


def health_command(url: str = METRICS_URL) -> subprocess.CompletedProcess[str]:
    """``provider-node health --url URL`` as a probe runs it."""
    return subprocess.run(
        [sys.executable, "-m", "provider_node", "health", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_for_health(status: int, timeout: float = 60) -> requests.Response:
    """Poll ``/healthz`` until it answers ``status`` (each answer itself is bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(f"{METRICS_URL}/healthz", timeout=10)
        if response.status_code == status:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"/healthz still {response.status_code}: {response.text}")
        time.sleep(0.2)


def wait_for_rpc_errors_above(count: float, timeout: float = 30) -> float:
    """Scrape until the node has counted more RPC errors than ``count`` (its loop meets the
    outage at its next poll, which may come after /healthz noticed it)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = value(scrape(), "jobmarket_node_errors_total", kind="rpc")
        if seen > count or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_metrics_move_as_a_job_goes_from_post_to_payout(market: Market, node: ProviderNode) -> None:
    before = scrape()
    job_id = market.post(shell_job("sleep 1; echo done > /out/x"), review_window=3600)
    node.wait_for_step(job_id, "submitted", timeout=60)
    submitted = scrape()
    chain_then = market.client.provider_info(PROVIDER_ADDRESS)
    # The review window passes on the chain; the node finalizes its job and is paid.
    market.w3.provider.make_request("evm_increaseTime", [3601])  # type: ignore[arg-type]
    market.mine()
    node.wait_for_step(job_id, "settled", timeout=60)
    # The JobAccepted event can settle the job before the settler reads its finalize receipt
    # (whose gas the metrics count): scrape until that receipt is counted too.
    deadline = time.monotonic() + 30
    while True:
        after = scrape()
        counted = value(after, "jobmarket_node_gas_used_total", function="finalize")
        if counted > value(before, "jobmarket_node_gas_used_total", function="finalize"):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    chain_now = market.client.provider_info(PROVIDER_ADDRESS)
    accepted = market.client.job_event(job_id, "JobAccepted")
    assert accepted is not None
    payout = int(accepted.args["payout"])

    # While submitted: the price is pending, the collateral locked (as the chain says).
    assert moved(before, submitted, "jobmarket_node_earnings_wei", state="pending") == PRICE
    assert moved(before, submitted, "jobmarket_node_jobs", step="submitted") == 1
    assert value(submitted, "jobmarket_node_stake_wei", state="locked") == chain_then.locked > 0
    assert value(submitted, "jobmarket_node_stake_wei", state="free") == chain_then.free
    # Settled: pending back, the payout credited, the collateral free again.
    assert moved(before, after, "jobmarket_node_earnings_wei", state="pending") == 0
    assert moved(before, after, "jobmarket_node_earnings_wei", state="credited") == payout
    assert value(after, "jobmarket_node_stake_wei", state="locked") == chain_now.locked == 0
    assert value(after, "jobmarket_node_stake_wei", state="free") == chain_now.free
    assert moved(before, after, "jobmarket_node_jobs", step="settled") == 1
    assert moved(before, after, "jobmarket_node_jobs", step="submitted") == 0
    assert moved(before, after, "jobmarket_node_claims_total", result="won") == 1
    assert moved(before, after, "jobmarket_node_claims_total", result="lost") == 0
    assert moved(before, after, "jobmarket_node_job_outcomes_total", outcome="settled") == 1
    for histogram in ("post_to_claim_seconds", "claim_to_submit_seconds", "container_run_seconds"):
        assert moved(before, after, f"jobmarket_node_{histogram}_count") == 1, histogram
    # The container slept 1 s (Docker's clock, to a few ms); the chain's claim-to-submit covers it.
    assert moved(before, after, "jobmarket_node_container_run_seconds_sum") >= 0.9
    assert moved(before, after, "jobmarket_node_claim_to_submit_seconds_sum") >= 1.0
    # Gas by function is what the chain's receipts say each of the node's calls used.
    for function in ("claim", "submit_result", "finalize"):
        gas = gas_of(market, function, job_id)
        assert gas > 0
        assert moved(before, after, "jobmarket_node_gas_used_total", function=function) == gas
        assert moved(before, after, "jobmarket_node_gas_cost_wei_total", function=function) > 0
    assert value(after, "jobmarket_node_chain_head_block") >= market.w3.eth.block_number - 1
    assert value(after, "jobmarket_node_chain_head_lag_blocks") <= 1
    assert value(after, "jobmarket_node_gpus_free") == 0  # no GPU on this machine
    assert (
        value(
            after,
            "jobmarket_node_info",
            node_id=node.status()["node_id"],
            account=PROVIDER_ADDRESS,
            market=market.client.address,
            chain_id=str(market.w3.eth.chain_id),
        )
        == 1
    )


def test_the_grafana_dashboard_queries_only_metrics_the_node_exports(node: ProviderNode) -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "provider-node.json").read_text())
    exprs = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ] + [variable["definition"] for variable in dashboard["templating"]["list"]]
    exported = {name for name, _ in scrape()}
    families = {
        family.name for family in text_string_to_metric_families(
            requests.get(f"{METRICS_URL}/metrics", timeout=10).text
        )
    }  # fmt: skip

    used = {name for expr in exprs for name in re.findall(r"\bjobmarket_node_\w+", expr)}
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    assert len(exprs) >= 10 and all(p["gridPos"]["w"] <= 24 for p in dashboard["panels"])
    assert used and used <= exported, sorted(used - exported)
    # Every family the node exports is on the dashboard (by one of its sample names; the
    # text format's `_created` timestamps of counters and histograms are no panel's matter).
    families = {f for f in families if not f.endswith("_created")}
    shown = {f for f in families if any(name == f or name.startswith(f + "_") for name in used)}
    assert shown == families, sorted(families - shown)


def test_the_systemd_unit_runs_real_options_and_probes_the_address_it_serves() -> None:
    from provider_node.cli import main

    unit = ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(REPO / "deploy" / "systemd" / "provider-node.service")
    service = unit["Service"]
    executable, verb, *args = shlex.split(service["ExecStart"])
    post = service["ExecStartPost"]

    assert executable.endswith("/provider-node") and verb == "run"
    run = main.get_command(None, "run")  # type: ignore[arg-type]
    run.make_context("run", list(args))  # every option is one `run` really takes
    listen = args[args.index("--metrics-listen") + 1]
    assert f"health --url http://{listen}" in post
    assert service["Restart"] == "on-failure" and service["KillMode"] == "process"
    assert service["NoNewPrivileges"] == "true"


def test_healthz_fails_while_anvil_is_stopped_and_recovers_when_it_is_back(
    market: Market, node: ProviderNode
) -> None:
    healthy = wait_for_health(200)
    began = time.monotonic()
    scrape()
    scraped = time.monotonic()
    requests.get(f"{METRICS_URL}/healthz", timeout=10)
    print(f"scrape_s={scraped - began:.3f} healthz_s={time.monotonic() - scraped:.3f}")
    assert [line.split(":")[0] for line in healthy.text.splitlines()] == [
        "chain",
        "docker",
        "store",
        "events",
    ]
    ok = health_command()
    assert ok.returncode == 0 and "chain: ok" in ok.stdout, ok
    rpc_errors = value(scrape(), "jobmarket_node_errors_total", kind="rpc")

    market.anvil.stop()  # really gone: the process stopped, its port closed
    try:
        down = wait_for_health(503)
        failing = health_command()
        errors_during = wait_for_rpc_errors_above(rpc_errors)
    finally:
        market.anvil.start()  # the same port and, from its state file, the same chain
    back = wait_for_health(200)
    recovered = health_command()

    assert down.text.splitlines() == [
        line for line in down.text.splitlines() if line.startswith("chain: failing")
    ]
    assert f"the RPC at {market.url} does not answer" in down.text
    assert failing.returncode == 1 and failing.stdout.strip() == down.text.strip(), failing
    assert errors_during > rpc_errors  # the node's own calls failed meanwhile, counted as rpc
    assert "events: ok" in back.text
    assert recovered.returncode == 0, recovered
    job_id = market.post(shell_job("echo after the outage > /out/x"))
    node.wait_for_step(job_id, "submitted", timeout=60)


def test_health_says_so_when_the_event_cursor_falls_behind(market: Market, tmp_path: Path) -> None:
    """The checks on their own, against a journal whose cursor is 30 blocks behind."""
    journal = Journal(tmp_path / "journal.sqlite")
    market.mine(30)
    head = market.w3.eth.block_number
    journal.set_next_block(head - 29)  # read up to head - 30
    checks = HealthChecks(
        rpc_url=market.url,
        market=market.client.address,
        account=PROVIDER_ADDRESS,
        journal=journal,
        start_block=market.first_block,
        confirmations=0,
        max_lag=20,
        store=market.store,
        docker_api_version=docker_client().api.api_version,
    )
    try:
        behind = {check.name: check for check in checks.run()}
        journal.set_next_block(head + 1)
        caught_up = {check.name: check for check in checks.run()}
    finally:
        checks.close()
        journal.close()

    assert [name for name, check in behind.items() if not check.ok] == ["events"]
    assert behind["events"].line == (
        f"events: failing, events read up to block {head - 30}, head {head}: 30 blocks behind "
        "(more than --health-max-lag 20)"
    )
    assert all(check.ok for check in caught_up.values()), caught_up


def test_a_hung_rpc_fails_the_chain_check_within_the_budget(market: Market, tmp_path: Path) -> None:
    """FAULT INJECTION: a listener that accepts connections and never answers stands in for a
    hung RPC (anvil answers or refuses, it never hangs). The probe still answers, bounded."""
    hung = socket.create_server(("127.0.0.1", 0))
    journal = Journal(tmp_path / "journal.sqlite")
    checks = HealthChecks(
        rpc_url=f"http://127.0.0.1:{hung.getsockname()[1]}",
        market=market.client.address,
        account=PROVIDER_ADDRESS,
        journal=journal,
        start_block=market.first_block,
        confirmations=0,
        max_lag=20,
        store=market.store,
        docker_api_version=docker_client().api.api_version,
    )
    try:
        began = time.monotonic()
        results = {check.name: check for check in checks.run()}
        print(f"healthz_with_hung_rpc_s={time.monotonic() - began:.2f}")
    finally:
        checks.close()
        journal.close()
        hung.close()

    assert not results["chain"].ok and "does not answer (ReadTimeout" in results["chain"].detail
    assert results["docker"].ok and results["store"].ok and "events" not in results


def test_health_without_a_node_listening_is_one_error_line_and_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = health_command(url)

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: nothing answers at {url}/healthz")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    with pytest.raises(Exception, match="nothing answers"):
        probe(url)


def test_a_taken_metrics_port_stops_the_node_at_once_with_one_line(
    market: Market, node: ProviderNode, docker_api: docker.DockerClient
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "provider_node", "run", "--account", "TEST::5",
         "--metrics-listen", f"127.0.0.1:{METRICS_PORT}"],
        capture_output=True, text=True, timeout=60, env=node_env(market.url, market.home),
    )  # fmt: skip

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: cannot listen on 127.0.0.1:{METRICS_PORT} (Address already in use); "
        "choose another HOST:PORT (a free port, an address of this machine)"
    ], result.stderr
