"""Round trips with a real provider node: the ``requester`` CLI and the ape scripts post jobs
that a running ``provider-node run`` (TEST::1, real Docker) claims, runs, pins and submits;
the requester side then follows, fetches and verifies the result, and accepts or disputes.

The ape scripts run as ``ape run NAME --network ethereum:local:foundry`` subprocesses against
this module's anvil (each costs ape's start-up, ~4 s, so each script is run once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from requester_support import IMAGE, Background, Chain

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.states import JobState
from requester.api import Requester

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.node
from support.node import ProviderNode, register_provider

REPO = Path(__file__).resolve().parents[2]
NODE_ACCOUNT = "TEST::1"
NODE_ADDRESS = dev_account(1).address
# An image the node was not registered for: jobs with it stay OPEN (for cancel and reclaim).
UNSERVED_IMAGE = "docker.io/library/alpine:3.20"
COUNT_LINES = "sh -c 'wc -l < /in/data.csv > /out/lines; echo counted'"


@pytest.fixture(scope="module")
def node(chain: Chain) -> Iterator[ProviderNode]:
    """A running provider node for the module, accepting only ``jobmarket/*`` images."""
    if os.geteuid() != 0:
        pytest.fail("the provider node's executor needs root (size-limited /out per job)")
    from jobmarket.docker_engine import DEFAULT_IMAGE, docker_client, ensure_engine, ensure_image

    ensure_engine()
    ensure_image(DEFAULT_IMAGE, docker_client())
    register_provider(
        chain.url,
        chain.home,
        account=NODE_ACCOUNT,
        stake="1 ether",
        args=["--image", "jobmarket/*"],
    )
    with ProviderNode(rpc_url=chain.url, home=chain.home, account=NODE_ACCOUNT) as running:
        yield running


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    return path


def json_of(completed: subprocess.CompletedProcess[str]):
    """The JSON a script printed (the whole output on failure, to see what went wrong)."""
    try:
        return json.loads(completed.stdout)
    except ValueError:
        raise AssertionError(f"not JSON:\n{completed.stdout}\n{completed.stderr}") from None


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


# -- the requester CLI ----------------------------------------------------------------------------


def test_post_wait_fetch_accept_in_one_command(cli, node, chain, data, tmp_path):
    target = tmp_path / "result"
    report = json.loads(
        ok(
            cli(
                "post", "--image", IMAGE, "--cmd", COUNT_LINES, "--input", str(data),
                "--price", "0.01", "--wait", "--fetch", str(target), "--accept",
                "--wait-timeout", "2m", "--json",
            )
        )
    )  # fmt: skip

    job_id = report["job_id"]
    assert report["status"]["state"] == "ACCEPTED"
    assert report["status"]["provider"] == NODE_ADDRESS
    assert [tx["function"] for tx in report["transactions"]] == ["post_job", "accept"]
    assert report["results"]["verified"] is True
    manifest = report["results"]["manifest"]
    assert (manifest["job_id"], manifest["status"], manifest["exit_code"]) == (
        job_id,
        "succeeded",
        0,
    )
    assert (target / "outputs" / "lines").read_text().strip() == "3"
    assert (target / "logs" / "stdout.log").read_text() == "counted\n"
    events = [step["event"] for step in report["status"]["steps"]]
    assert events == ["JobPosted", "JobClaimed", "ResultSubmitted", "JobAccepted"]
    assert chain.client.provider_info(NODE_ADDRESS).completed >= 1
    node.wait_for_step(job_id, "settled", timeout=30)


def test_a_job_writing_ten_thousand_outputs_is_delivered_and_downloaded_intact(
    cli, node, chain, tmp_path
):
    # Seen: a job writing 6,000 files made the node abandon (and pay a slash): a basic UnixFS
    # directory stops fitting at about 5,000 entries. Now the node shards /out as Kubo does.
    files = 10_000
    script = f"i=0; while [ $i -lt {files} ]; do echo $i > /out/f$i; i=$((i+1)); done"
    target = tmp_path / "result"
    report = json.loads(
        ok(
            cli(
                "post", "--image", IMAGE, "--cmd", f"sh -c '{script}'", "--price", "0.01",
                "--timeout", "120", "--wait", "--fetch", str(target), "--accept",
                "--wait-timeout", "4m", "--json",
            )
        )
    )  # fmt: skip

    assert report["status"]["state"] == "ACCEPTED"
    manifest = report["results"]["manifest"]
    assert manifest["status"] == "succeeded" and len(manifest["outputs"]) == files
    written = {path.name: path for path in (target / "outputs").iterdir()}
    assert len(written) == files
    assert written["f0"].read_text() == "0\n" and written["f9999"].read_text() == "9999\n"


def test_the_dispute_path(cli, node, chain, data, tmp_path):
    text = ok(
        cli(
            "post", "--image", IMAGE, "--cmd", COUNT_LINES, "--input", f"numbers={data}",
            "--price", "0.01", "--wait", "--fetch", str(tmp_path / "result"),
        )
    )  # fmt: skip
    job_id = int(text.split()[2])
    steps = [line for line in text.splitlines()[2:] if line.startswith(" ") and "+" in line[:9]]
    assert [line.split()[1] for line in steps[:3]] == ["OPEN", "CLAIMED", "SUBMITTED"]
    assert "\x1b" not in text  # not a terminal: plain lines only
    assert f"job {job_id} is SUBMITTED; waiting on the requester to accept the result" in text
    # The command reads /in/data.csv, but the input was mounted as /in/numbers: no output.
    assert f"result of job {job_id}: succeeded, exit code 0" in text
    assert "verified 0 output file(s)" in text
    assert "stderr (last lines): sh: can't open /in/data.csv" in text

    disputed = ok(cli("dispute", str(job_id)))
    assert disputed.startswith("dispute mined in block")
    assert (
        f"job {job_id} is DISPUTED; waiting on the arbiter to resolve the dispute until" in disputed
    )
    status = json.loads(ok(cli("status", str(job_id), "--json")))
    assert [m["function"] for m in status["next_moves"]] == ["resolve", "close_dispute"]


def test_a_failed_run_is_not_accepted_automatically(cli, node, data, tmp_path):
    result = cli(
        "post", "--image", IMAGE, "--cmd", "sh -c 'echo oops >&2; exit 3'", "--price", "0.01",
        "--fetch", str(tmp_path / "result"), "--accept",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "ran but ended 'failed' (exit code 3); it was not accepted" in result.stderr
    assert "stderr (last lines): oops" in result.stdout
    job_id = int(result.stdout.split()[2])
    assert json.loads(ok(cli("status", str(job_id), "--json")))["state"] == "SUBMITTED"


def test_watch_follows_jobs_to_the_end(cli, node, chain):
    # Another requester, so the jobs other tests leave unsettled are not followed.
    with Requester.connect(chain.url, "TEST::2") as other:
        job = other.post(image=IMAGE, command="sh -c 'echo hi > /out/hi'", price="0.01")

        def accept_when_submitted() -> None:
            job.wait(timeout=60)
            job.accept()

        with Background((0.0, accept_when_submitted)):
            text = ok(cli("watch", "--account", "TEST::2", "--until-settled", "--timeout", "90s"))

    # The job's state when watch started ("… now"), then every later step, in order: how far
    # the node got before watch started depends on timing, the end does not.
    mine = [line for line in text.splitlines() if line.startswith(f"job {job.id:>4} ")]
    states = [line.split()[2] for line in mine]
    assert mine[0].endswith(" now")
    lifecycle = ["OPEN", "CLAIMED", "SUBMITTED", "ACCEPTED"]
    assert states == lifecycle[lifecycle.index(states[0]) :]
    assert text.splitlines()[-1] == "1 job(s) followed, 0 still active"


# -- the ape scripts ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ape_run(chain: Chain) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``ape run SCRIPT ARGS --network ethereum:local:foundry`` against this module's anvil."""
    env = {
        **os.environ,
        "APE_FOUNDRY_HOST": chain.url,
        "JOBMARKET_HOME": str(chain.home),
        "PYTHONUNBUFFERED": "1",
    }
    ape = str(Path(sys.executable).with_name("ape"))

    def run(script: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [ape, "run", script, *args, "--network", "ethereum:local:foundry"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert completed.returncode == expect, (script, completed.stdout, completed.stderr)
        return completed

    return run


def test_the_ape_scripts_drive_every_step(ape_run, node, chain, requester, data, tmp_path):
    # post_job follows the job through the node and fetches the verified result.
    posted = json_of(
        ape_run(
            "post_job", "--image", IMAGE, "--cmd", COUNT_LINES, "--input", str(data),
            "--price", "0.01", "--fetch", str(tmp_path / "first"), "--json",
        )
    )  # fmt: skip
    job_id = posted["job_id"]
    assert posted["status"]["state"] == "SUBMITTED"
    assert (tmp_path / "first" / "outputs" / "lines").read_text().strip() == "3"

    # One job per action, each posted by its own account so the scripts can sign side by side:
    # one for the node, three it will not take (an image it does not serve).
    posters = {name: Requester.connect(chain.url, f"TEST::{n}") for n, name in enumerate(
        ("dispute", "cancel", "reclaim", "refused"), start=2)}  # fmt: skip
    jobs = {
        "dispute": posters["dispute"].post(image=IMAGE, command="true", price="0.01"),
        "cancel": posters["cancel"].post(
            image=UNSERVED_IMAGE, command="true", price="0.01", anyway=True
        ),
        "reclaim": posters["reclaim"].post(
            image=UNSERVED_IMAGE, command="true", price="0.01", claim_within="1m", anyway=True
        ),
        "refused": posters["refused"].post(
            image=UNSERVED_IMAGE, command="true", price="0.01", anyway=True
        ),
    }
    jobs["dispute"].wait(timeout=60)
    chain.increase_time(61)  # past the claim deadline of the job to reclaim
    refused_nonce = chain.nonce(posters["refused"].address)

    def as_poster(action: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        n = 2 + list(posters).index(action)
        return ape_run(action if action != "refused" else "accept", str(jobs[action].id),
                       "--account", f"TEST::{n}", *args, expect=expect)  # fmt: skip

    with ThreadPoolExecutor(max_workers=4) as pool:
        reads = {
            "status": pool.submit(ape_run, "job_status", str(job_id), "--json"),
            "jobs": pool.submit(ape_run, "jobs", "--json"),
            "providers": pool.submit(ape_run, "providers", "--json"),
            "results": pool.submit(
                ape_run, "results", str(job_id), str(tmp_path / "again"), "--json"
            ),
        }
        writes = {
            "accept": pool.submit(ape_run, "accept", str(job_id), "--account", "TEST::0"),
            "dispute": pool.submit(as_poster, "dispute"),
            "cancel": pool.submit(as_poster, "cancel"),
            "reclaim": pool.submit(as_poster, "reclaim"),
            "refused": pool.submit(as_poster, "refused", expect=1),
        }

    status = json_of(reads["status"].result())
    assert status["job_id"] == job_id and status["provider"] == NODE_ADDRESS
    listed = [job["job_id"] for job in json_of(reads["jobs"].result())]
    assert job_id in listed and jobs["cancel"].id not in listed  # only TEST::0's jobs
    [served] = json_of(reads["providers"].result())
    assert served["address"] == NODE_ADDRESS
    assert served["capabilities"]["accepted_images"] == ["jobmarket/*"]
    fetched = json_of(reads["results"].result())
    assert fetched["verified"] and fetched["manifest"]["outputs"][0]["path"] == "lines"

    assert "accept mined in block" in writes["accept"].result().stdout
    assert f"job {jobs['dispute'].id} is DISPUTED" in writes["dispute"].result().stdout
    assert f"job {jobs['cancel'].id} is CANCELED" in writes["cancel"].result().stdout
    assert f"job {jobs['reclaim'].id} is EXPIRED" in writes["reclaim"].result().stdout
    assert requester.job(job_id).view().state is JobState.ACCEPTED

    # A refused action through a script: one error line, its exit code, nothing sent.
    refused = writes["refused"].result()
    assert f"error: cannot accept job {jobs['refused'].id}: it is OPEN" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert chain.nonce(posters["refused"].address) == refused_nonce
    for poster in posters.values():
        poster.close()
