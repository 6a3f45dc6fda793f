"""The README's "Testing on an anvil fork" guide, run command by command (issue 13, item 4).

No public RPC is reachable here: a second local anvil with Sepolia's chain id (11155111) stands
in for the forked chain. The guide's commands are read from the README itself, so the guide and
this test cannot drift apart; only the URL and the port are substituted.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from jobmarket.devnet import Anvil, free_port

REPO = Path(__file__).resolve().parents[2]
SEPOLIA = 11155111


def guide_commands() -> list[str]:
    """The shell lines of the guide's code block, comments removed."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Testing on an anvil fork", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
    return [line for line in lines if line]


def test_the_fork_guide_runs_against_a_chain_with_a_public_id(tmp_path):
    env = {
        **os.environ,
        "JOBMARKET_HOME": str(tmp_path / "home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    for name in ("JOBMARKET_RPC_URL", "JOBMARKET_ACCOUNT", "JOBMARKET_MARKET", "IPFS_API"):
        env.pop(name, None)
    port = free_port()
    commands = guide_commands()
    assert commands[0].startswith("export FORK_URL=")
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    with Anvil(chain_id=SEPOLIA, log_path=tmp_path / "public.log") as public:
        env["FORK_URL"] = public.url
        devnet = None
        try:
            for line in commands[1:]:
                line = line.replace("$FORK_URL", public.url).replace("8545", str(port))
                if line.startswith("export "):
                    name, _, value = line.removeprefix("export ").partition("=")
                    env[name] = value
                    continue
                if line.endswith("&"):  # the fork, in the background until the end
                    log = open(tmp_path / "devnet.log", "w")  # noqa: SIM115 - closed below
                    devnet = subprocess.Popen(
                        [sys.executable, *shlex.split(line.rstrip("&"))[1:]],
                        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                    _wait_for(tmp_path / "devnet.log", "stop with Ctrl-C", devnet)
                    continue
                result = subprocess.run(
                    shlex.split(line), cwd=tmp_path, env=env, capture_output=True, text=True,
                    timeout=120,
                )  # fmt: skip
                assert result.returncode == 0, (line, result.stdout, result.stderr)
                outputs[shlex.split(line)[1]] = result
        finally:
            if devnet is not None:
                devnet.terminate()
                devnet.wait(timeout=30)
    started = (tmp_path / "devnet.log").read_text()
    assert f"(chain {SEPOLIA}, a fork of {public.url})" in started
    assert "job 0: OPEN" in outputs["status"].stdout  # TEST::0 was not refused on 11155111
    assert "CANCELED" in outputs["cancel"].stdout


def _wait_for(log: Path, text: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"the fork did not start: {log.read_text()}")
