"""The Kubo backend, against a STAND-IN FOR KUBO (content_fake_kubo.FakeKubo).

Only faults a real Kubo cannot be made to produce on demand live here (corrupted or cut-short
answers, HTTP 500s, hangs, a node reporting a CID other than the one it was sent); everything
else runs against real Kubo daemons in test_content_kubo_real.py.
"""

from __future__ import annotations

import os
import socket
import time

import pytest
from content_fake_kubo import FakeKubo

from jobmarket.content.importer import Importer
from jobmarket.content.kubo import KuboStore, api_base_url
from jobmarket.errors import IntegrityError, InvalidInput, NotFound, Unreachable

CHUNK = 262144


@pytest.fixture
def kubo(tmp_path):
    with FakeKubo(tmp_path / "fake-kubo") as fake:
        yield fake


@pytest.fixture
def client(kubo):
    store = KuboStore(kubo.url, timeout=0.5, retries=2, backoff=0.01)
    yield store
    store.close()


def test_bytes_that_do_not_match_their_cid_are_refused(client, kubo):
    cid = client.add_bytes(b"the real content")
    kubo.inject("block/get", "corrupt")
    with pytest.raises(IntegrityError, match="do not match it"):
        b"".join(client.cat(cid))


def test_transient_http_500_is_retried(client, kubo):
    cid = client.add_bytes(b"retry me")
    kubo.inject("block/get", "http500", "http500")
    assert b"".join(client.cat(cid)) == b"retry me"
    assert kubo.calls.count("block/get") == 3


def test_persistent_http_500_is_one_unreachable_error(client, kubo):
    kubo.inject("version", "http500", "http500", "http500")
    with pytest.raises(Unreachable) as caught:
        client.version()
    assert caught.value.message == (
        f"IPFS API at {kubo.url} answered HTTP 500 to version after 3 attempts; "
        "check that Kubo is running or unset IPFS_API"
    )


def test_kubo_error_answer_is_passed_on_without_retrying(client, kubo):
    with pytest.raises(NotFound):
        client.unpin(Importer().add_bytes(b"never pinned").cid)
    assert kubo.calls.count("pin/rm") == 1


def test_timeout_is_reported_once_with_the_limit(client, kubo):
    kubo.inject("version", "stall")
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        client.version()
    assert time.monotonic() - started < 1.9  # no retry after a timeout
    assert caught.value.message == (
        f"IPFS API at {kubo.url} did not answer within 0.5 s; "
        "check that Kubo is running or unset IPFS_API"
    )


def test_connection_refused_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = KuboStore(f"http://127.0.0.1:{port}", timeout=0.5, retries=1, backoff=0.01)
    with pytest.raises(Unreachable, match=r"127\.0\.0\.1.*unreachable.*after 2 attempts"):
        store.version()


def test_add_reporting_a_different_cid_is_refused(client, kubo):
    kubo.inject("add", "wrong-cid")
    with pytest.raises(IntegrityError, match="Import settings"):
        client.add_bytes(b"content")


def test_a_dag_export_cut_short_is_refused_and_leaves_no_file(client, kubo, tmp_path):
    cid = client.add_bytes(os.urandom(3 * CHUNK))
    kubo.inject("dag/export", "truncate")
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "export.car"
    with pytest.raises(IntegrityError) as caught:
        client.export_car(cid, target)
    assert caught.value.problem == (
        f"IPFS node at {kubo.url} exported a damaged CAR for {cid}: unexpected end of file"
    )
    assert list((tmp_path / "out").iterdir()) == []  # no partial file either


@pytest.mark.parametrize(
    ("api", "url"),
    [
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
        ("127.0.0.1:5001/", "http://127.0.0.1:5001"),
        ("/ip4/127.0.0.1/tcp/5001", "http://127.0.0.1:5001"),
        ("/ip6/::1/tcp/5001", "http://[::1]:5001"),
        ("/dns4/ipfs.local/tcp/443/https", "https://ipfs.local:443"),
        ("http://node:5001/api/v0", "http://node:5001"),
    ],
)
def test_ipfs_api_accepts_urls_and_multiaddrs(api, url):
    assert api_base_url(api) == url


def test_ipfs_api_garbage_is_refused():
    with pytest.raises(InvalidInput, match="not an address"):
        api_base_url("ftp://x")
