"""``make demo`` and ``make demo TOKEN=1`` end to end: the demo's own entry point
(``demo/run_demo.py``), with its real anvil, market, provider node and Docker job, run as
``make demo`` runs it, in a state folder of the test's own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _demo(tmp_path: Path, **env: str) -> str:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("JOBMARKET_")}
    result = subprocess.run(
        [sys.executable, str(REPO / "demo" / "run_demo.py"), "--run-dir", str(tmp_path / "run")],
        env={**variables, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


def test_make_demo_token_runs_the_whole_job_paid_in_a_test_stablecoin(tmp_path: Path) -> None:
    out = _demo(tmp_path, TOKEN="1")

    assert "test stablecoin tUSD (6 decimals, EIP-2612 permit) deployed at 0x" in out
    assert "register with a 500 tUSD stake" in out and "stake 500 tUSD" in out
    assert "with post_job_permit (one signature, one transaction): 12.5 tUSD escrowed" in out
    assert "posted for 12.5 tUSD" in out and "payout=12.5 tUSD" in out
    assert re.search(r"requester +1000 tUSD -> +987\.5 tUSD +\(-12\.5 tUSD\)", out), out
    assert re.search(r"provider stake +500 tUSD -> +512\.5 tUSD +\(\+12\.5 tUSD\)", out), out
    assert re.search(r"requester ETH .* ETH -> .* ETH", out), out
    assert re.search(r"JobPosted +requester +\d{2,3},\d{3}", out), out
    assert "Demo passed: the output was verified and the provider was paid" in out


def test_make_demo_without_token_still_pays_in_eth(tmp_path: Path) -> None:
    out = _demo(tmp_path, TOKEN="")

    assert "paying in ETH" in out and "register with a 1 ETH stake" in out
    assert "with post_job: 0.01 ETH escrowed" in out
    assert re.search(r"provider stake +1\.000000 ETH -> +1\.010000 ETH", out), out
    assert "tUSD" not in out
    assert "Demo passed" in out
