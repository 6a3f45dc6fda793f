"""`make demo-network`: one job across two hosts that share nothing but the chain.

Host A (the requester) and host B (the provider) are Linux network namespaces on a private LAN
of their own (needs root); each runs its own Kubo v0.43.1 daemon (``make kubo``) on its own
address and has its own ``JOBMARKET_HOME``; anvil runs on the chain host (the root namespace,
``10.N.0.1``). The requester on A posts a job with an input file; the provider node on B sees
it, connects to A's Kubo (the spec's retrieval hints), fetches the input over IPFS, runs it in
Docker (network none), pins the result on B's Kubo and submits its digest; the requester on A
fetches the result through A's Kubo (connected to the peers B published in its capability
document), verifies it against the on-chain digest and accepts it.

It prints which host did what, both Kubo peer ids, the bytes that crossed between the two Kubo
nodes (bitswap) and the verified result. Everything is removed at the end (namespaces, daemons,
anvil, folders). Exit 0 only when the result verified on host A.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the test hosts: tests/support/two_hosts.py

from support.two_hosts import TwoHosts, two_hosts  # noqa: E402

from jobmarket.errors import UserError  # noqa: E402

INPUT = REPO / "demo" / "data" / "poem.txt"
IMAGE = "jobmarket/busybox:1"
SCRIPT = (
    "sha256sum /in/poem.txt | cut -d' ' -f1 > /out/sha256; wc -l -w < /in/poem.txt > /out/counts"
)


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say(f"\n== {text}")


def _kubo_bytes(before: dict[str, int], after: dict[str, int]) -> tuple[int, int]:
    """Bytes and blocks a Kubo daemon received over bitswap between two ``bitswap stat``s."""
    return (
        after["DataReceived"] - before["DataReceived"],
        after["BlocksReceived"] - before["BlocksReceived"],
    )


def _show_hosts(w: TwoHosts) -> None:
    a, b = w.requester_host, w.provider_host
    heading("Hosts (nothing shared but the chain)")
    say(f"   chain host          {w.network.chain_address:<12} anvil {w.anvil.url}")
    say(f"   host A (requester)  {a.address:<12} Kubo peer {w.kubo_a.peer_id}")
    say(f"   host B (provider)   {b.address:<12} Kubo peer {w.kubo_b.peer_id}")
    say(f"   homes: A {a.home}, B {b.home} (each its own)")
    [listing] = w.requester_json("providers")
    peers = (listing["capabilities"] or {}).get("ipfs_peers")
    say(f"   B registered; its capability document publishes ipfs_peers {peers}")


def _show_node_log(w: TwoHosts, job_id: int) -> None:
    heading("Host B: what the provider node did (its log)")
    hidden = ("ts", "level", "job", "event", "node", "step")
    for event in w.node.events(job=str(job_id)):
        what = event.get("step") if event.get("event") == "step" else event.get("event")
        fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in hidden)
        say(f"   B | {what:<16} {fields}"[:150])


def run() -> int:
    if os.geteuid() != 0:
        say("error: make demo-network creates network namespaces: run it as root")
        return 1
    folder = tempfile.TemporaryDirectory(prefix="jm-network-demo-")
    with folder, two_hosts(Path(folder.name)) as w:
        return _job_across(w)


def _job_across(w: TwoHosts) -> int:
    a, b = w.requester_host, w.provider_host
    _show_hosts(w)
    data = a.folder / "poem.txt"
    data.write_bytes(INPUT.read_bytes())
    size = data.stat().st_size
    expected = hashlib.sha256(data.read_bytes()).hexdigest()
    before_a, before_b = w.bitswap(w.kubo_a), w.bitswap(w.kubo_b)
    heading(f"Host A: the requester posts a job with poem.txt ({size} bytes), then waits")
    result = a.folder / "result"
    done = w.requester(
        "post", "--image", IMAGE, "--cmd", f"sh -c {json.dumps(SCRIPT)}",
        "--input", f"poem.txt={data}", "--price", "0.01", "--fetch", str(result), "--accept",
    )  # fmt: skip
    for line in done.stdout.splitlines():
        say(f"   A | {line}")
    if done.returncode:
        say(f"error: the requester on host A failed: {done.stderr.strip()}")
        return 1
    _show_node_log(w, 0)

    a_to_b, blocks_to_b = _kubo_bytes(before_b, w.bitswap(w.kubo_b))
    b_to_a, blocks_to_a = _kubo_bytes(before_a, w.bitswap(w.kubo_a))
    embedded = [h.name for h in (a, b) if (h.home / "ipfs").exists()]
    heading("Bytes that crossed between the two Kubo nodes (bitswap)")
    say(f"   A -> B  {a_to_b:>8,} bytes in {blocks_to_b} blocks (the spec and poem.txt)")
    say(f"   B -> A  {b_to_a:>8,} bytes in {blocks_to_a} blocks (the result)")
    say(f"   embedded stores used: {', '.join(embedded) or 'none'}")

    heading("Host A: the result, verified against the on-chain digest, then accepted")
    outputs = result / "outputs"
    got = (outputs / "sha256").read_text().strip()
    say(f"   outputs/counts   {' '.join((outputs / 'counts').read_text().split())} (lines words)")
    say(f"   outputs/sha256   {got} (computed on host B)")
    say(f"   poem.txt sha256  {expected} (on host A)")
    verified = got == expected and a_to_b >= size and b_to_a > 0 and not embedded
    verdict = "VERIFIED" if verified else "NOT VERIFIED"
    say(f"   {verdict}: host B ran the job on bytes from host A, moved only over IPFS")
    return 0 if verified else 1


def main() -> int:
    try:
        return run()
    except UserError as err:
        say(f"error: {err.message}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
