"""The Kubo backend, against a STAND-IN FOR KUBO (content_fake_kubo.FakeKubo).

No Kubo binary can be installed here; the stand-in speaks the RPC calls KuboStore uses and
injects the failures a real node or network produces.
"""

from __future__ import annotations

import os
import socket
import time

import pytest
from content_fake_kubo import FakeKubo

from jobmarket.content.importer import Importer, ImportParams
from jobmarket.content.kubo import KuboError, KuboStore, api_base_url
from jobmarket.content.store import open_store
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


def test_add_and_read_back_a_file_with_kubos_cid(client, kubo, tmp_path):
    data = os.urandom(3 * CHUNK + 1)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    cid = client.add_file(path, pin=True)
    assert cid == Importer().add_file(path).cid
    assert b"".join(bytes(piece) for piece in client.cat(cid)) == data
    assert client.pins() == [cid]
    assert client.has(cid)
    assert "block/get" in kubo.calls and "cat" not in kubo.calls  # read block by block


def test_add_sends_the_parameters_that_decide_cids(client, kubo, tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(CHUNK + 1))
    params = ImportParams(cid_version=0)
    cid = client.add_file(path, params=params)
    assert str(cid).startswith("Qm")
    assert cid == Importer(params).add_file(path).cid


def test_directory_round_trip_through_kubo(client, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a b+c%.txt").write_bytes(b"odd name\n")  # names survive multipart escaping
    (tree / "sub" / "big.bin").write_bytes(os.urandom(2 * CHUNK))
    (tree / ".hidden").write_bytes(b"skipped by default\n")
    cid = client.add_dir(tree)
    assert cid == Importer().add_path(tree).cid
    client.get(cid, tmp_path / "out")
    assert (tmp_path / "out" / "a b+c%.txt").read_bytes() == b"odd name\n"
    assert (tmp_path / "out" / "sub" / "big.bin").read_bytes() == (
        tree / "sub" / "big.bin"
    ).read_bytes()
    assert not (tmp_path / "out" / ".hidden").exists()


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


def test_gateway_instead_of_rpc_api_is_explained(client, kubo):
    store = KuboStore(kubo.url + "/not-the-api", timeout=0.5, retries=0)
    with pytest.raises(InvalidInput, match="RPC API"):
        store.version()


def test_car_import_is_verified_before_kubo_sees_it(client, kubo, store, tmp_path):
    cid = store.add_bytes(os.urandom(2 * CHUNK))
    car = tmp_path / "x.car"
    store.export_car(cid, car)
    assert client.import_car(car) == [cid]
    assert cid in client.pins()
    exported = tmp_path / "back.car"
    client.export_car(cid, exported)
    assert exported.read_bytes() == car.read_bytes()  # same bytes as our own export

    tampered = tmp_path / "tampered.car"
    raw = bytearray(car.read_bytes())
    raw[-10] ^= 0xFF
    tampered.write_bytes(raw)
    calls = kubo.calls.count("dag/import")
    with pytest.raises(IntegrityError):
        client.import_car(tampered)
    with pytest.raises(InvalidInput, match="is not a file"):
        client.import_car(tmp_path)
    assert kubo.calls.count("dag/import") == calls


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


def test_kubo_error_message_reaches_the_user(client):
    with pytest.raises(KuboError, match="refused pin/add"):
        client.pin(Importer().add_bytes(b"not on the node").cid)


def test_open_store_uses_kubo_when_ipfs_api_is_set(kubo, monkeypatch):
    monkeypatch.setenv("IPFS_API", kubo.url)
    store = open_store()
    assert isinstance(store, KuboStore)
    assert store.version() == "0.0.0-fake"


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
