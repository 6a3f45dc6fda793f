"""KuboStore against REAL Kubo daemons (tests/support/kubo.py), no stand-in.

Every call KuboStore makes (add with explicit CID options, block get/put, pin add/rm/ls, dag
export/import, version, id, swarm connect/peers) runs against the daemon; every CID we compute
must equal the one Kubo returns, over Kubo's own vectors and the edge cases (symlinks, odd and
non-UTF-8 names, empty files and folders, hidden entries, a node whose Import config differs).
Kubo's CLI is the second, independent opinion: it walks the folder itself.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.kubo

from support.kubo import KuboDaemon, running_kubo

from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.dagpb import (
    EMPTY_DIRECTORY_DATA,
    UnixFSType,
    decode_node,
    decode_unixfs,
    encode_node,
)
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.content.importer import HAMT_SHARDING_THRESHOLD, Importer, ImportParams
from jobmarket.content.kubo import KuboError, KuboStore
from jobmarket.content.store import open_store
from jobmarket.errors import IntegrityError, InvalidInput, NotFound

CHUNK = 262144
DATA = Path(__file__).with_name("data")
SAMPLE_CAR = DATA / "go-car-sample-v1.car"
SHARNESS = json.loads((DATA / "kubo-sharness-cids.json").read_text())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[KuboDaemon]:
    with running_kubo(tmp_path_factory.mktemp("kubo-a")) as started:
        yield started


@pytest.fixture(scope="module")
def other_daemon(tmp_path_factory) -> Iterator[KuboDaemon]:
    with running_kubo(tmp_path_factory.mktemp("kubo-b")) as started:
        yield started


@pytest.fixture
def client(daemon) -> Iterator[KuboStore]:
    store = KuboStore(daemon.api_url, timeout=10.0, retries=1, backoff=0.1)
    yield store
    store.close()


def _params(vector: dict) -> ImportParams:
    return ImportParams(
        cid_version=vector["cid_version"],
        raw_leaves=vector.get("raw_leaves"),
        chunk_size=vector.get("chunk_size", CHUNK),
        max_links=vector.get("max_links", 174),
    )


def _cli_add(daemon: KuboDaemon, path: Path, params: ImportParams, *extra: str) -> str:
    """Kubo's own ``ipfs add`` (walking the folder itself) with the same explicit options."""
    args = ["add", "-Q", "--pin=false", f"--cid-version={params.cid_version}"]
    args += [f"--raw-leaves={str(params.leaves_are_raw).lower()}"]
    args += [f"--chunker=size-{params.chunk_size}", f"--max-file-links={params.max_links}"]
    return daemon.ipfs(*args, *extra, str(path)).strip()


# -- the daemon itself ----------------------------------------------------------------------------


def test_daemon_listens_and_dials_on_loopback_only(daemon, client):
    config = json.loads((daemon.repo / "config").read_text())
    assert config["Bootstrap"] == []
    assert config["Discovery"]["MDNS"]["Enabled"] is False
    assert config["Routing"]["Type"] == "none"
    assert config["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]
    identity = client.identity()
    assert identity.peer_id == daemon.peer_id
    assert identity.addresses
    assert all(address.startswith("/ip4/127.0.0.1/") for address in identity.addresses)
    assert client.swarm_peers() == []  # nobody was dialled on its own


def test_version_is_the_built_kubo(daemon, client):
    assert client.version() == daemon.ipfs("version", "--number").strip() == "0.43.1"


def test_ipfs_api_selects_the_kubo_node(daemon, monkeypatch):
    monkeypatch.setenv("IPFS_API", daemon.api_url)
    store = open_store()
    assert isinstance(store, KuboStore)
    assert store.version() == "0.43.1"
    store.close()


def test_gateway_instead_of_rpc_api_is_explained(daemon):
    store = KuboStore(daemon.gateway_url, timeout=10.0, retries=0)
    with pytest.raises(InvalidInput, match="RPC API"):
        store.version()
    store.close()


# -- CIDs -----------------------------------------------------------------------------------------


def test_every_vector_gives_the_same_cid_from_kubo_and_from_our_importer(
    client, kubo_vectors, vector_input
):
    failures = []
    for vector in kubo_vectors["files"]:
        path = vector_input(vector["input"])
        ours = Importer(_params(vector)).add_file(path).cid
        kubos = client.add_file(path, params=_params(vector))  # refuses any disagreement
        if not str(ours) == str(kubos) == vector["expect"]:
            failures.append(f"{path.name}: ours {ours}, Kubo {kubos}, expected {vector['expect']}")
    assert not failures
    assert len(kubo_vectors["files"]) >= 11


def _odd_tree(root: Path) -> Path:
    tree = root / "odd tree"
    (tree / "empty folder").mkdir(parents=True)
    (tree / "nested" / "deeper" / "empty").mkdir(parents=True)
    (tree / "empty file").write_bytes(b"")
    (tree / "a b+c%20&d=e?f#g.txt").write_bytes(b"URL metacharacters\n")
    (tree / 'quote"and\\backslash').write_bytes(b"quoted\n")
    (tree / "ünïcödé ✓.txt").write_bytes(b"unicode\n")
    (tree / os.fsdecode(b"not-utf8-\xff\xfe")).write_bytes(b"raw bytes name\n")
    (tree / "nested" / "big.bin").write_bytes(os.urandom(3 * CHUNK + 5))
    (tree / ".hidden").write_bytes(b"only with hidden\n")
    os.symlink("nested/big.bin", tree / "relative link")
    os.symlink("/etc/passwd", tree / "absolute link")
    os.symlink("does/not/exist", tree / "dangling link")
    return tree


@pytest.mark.parametrize("cid_version", [0, 1])
def test_odd_trees_get_the_same_cid_from_kubo_and_from_our_importer(
    client, daemon, tmp_path, cid_version
):
    tree = _odd_tree(tmp_path)
    params = ImportParams(cid_version=cid_version)
    ours = Importer(params).add_path(tree).cid
    assert client.add_dir(tree, params=params) == ours
    assert _cli_add(daemon, tree, params, "-r") == str(ours)
    with_hidden = ImportParams(cid_version=cid_version, hidden=True)
    ours_hidden = Importer(with_hidden).add_path(tree).cid
    assert ours_hidden != ours
    assert client.add_dir(tree, params=with_hidden) == ours_hidden
    assert _cli_add(daemon, tree, with_hidden, "-r", "--hidden") == str(ours_hidden)


def test_t0044_symlinks_get_kubos_cids(client, daemon, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "files" / "foo").mkdir(parents=True)
    (tmp_path / "files" / "bar").mkdir()
    (tmp_path / "files" / "foo" / "baz").write_text("some text\n")
    os.symlink("files/foo/baz", tmp_path / "files" / "bar" / "baz")
    os.symlink("files/does/not/exist", tmp_path / "files" / "bad")
    for vector in SHARNESS["symlinks"]:
        params = ImportParams(cid_version=vector["cid_version"])
        target = tmp_path / vector["add"]
        assert str(client.add_path(target, params=params)) == vector["expect"]
        recursive = ["-r"] if target.is_dir() and not target.is_symlink() else []
        assert _cli_add(daemon, target, params, *recursive) == vector["expect"]


def _flat_folder(folder: Path, count: int, last_name_length: int) -> Path:
    """``count`` one-byte files; every name but the last is 28 bytes, so with CIDv1 raw leaves
    (36-byte CIDs) each link counts 64 bytes towards Kubo's 256 KiB sharding estimate."""
    folder.mkdir()
    for index in range(count):
        width = last_name_length if index == count - 1 else 28
        (folder / f"{index:0{width}d}").write_bytes(b"x")
    return folder


def _unixfs_type(daemon: KuboDaemon, cid: str) -> UnixFSType:
    """The UnixFS type of a dag-pb block, as Kubo's own CLI returns the block."""
    return decode_unixfs(decode_node(daemon.ipfs_bytes("block", "get", cid)).data).type


def test_hamt_threshold_basic_directory_at_it_and_the_same_shard_as_kubo_one_byte_over(
    client, daemon, tmp_path
):
    count = HAMT_SHARDING_THRESHOLD // 64
    params = ImportParams(cid_version=1)
    at = _flat_folder(tmp_path / "at", count, 28)  # estimate exactly 262,144 bytes
    ours = Importer(params).add_path(at).cid
    assert client.add_dir(at, params=params) == ours
    assert _cli_add(daemon, at, params, "-r") == str(ours)
    assert _unixfs_type(daemon, str(ours)) == UnixFSType.DIRECTORY

    over = _flat_folder(tmp_path / "over", count, 29)  # 262,145 bytes: Kubo shards
    kubos = _cli_add(daemon, over, params, "-r")
    assert _unixfs_type(daemon, kubos) == UnixFSType.HAMT_SHARD
    assert str(Importer(params).add_path(over).cid) == kubos
    assert client.add_dir(over, params=params) == Cid.parse(kubos)


@pytest.mark.parametrize("cid_version", [0, 1])
@pytest.mark.parametrize("files", [6_000, 10_000])
def test_large_output_folders_shard_exactly_as_kubo_shards_them(
    daemon, tmp_path, cid_version, files
):
    """More HAMT vectors, made by the real Kubo: job-output-like folders (nested, odd names,
    empty files) over the threshold, for both CID versions."""
    folder = tmp_path / "outputs"
    (folder / "many").mkdir(parents=True)
    (folder / "small").mkdir()
    for index in range(files):
        name = f"result-{index:05d}-é.txt" if index % 7 else f"r{index}"
        (folder / "many" / name).write_bytes(str(index).encode() * (index % 3))
    (folder / "small" / "summary.json").write_text("{}")
    params = ImportParams(cid_version=cid_version)
    kubos = _cli_add(daemon, folder, params, "-r")
    assert str(Importer(params).add_path(folder).cid) == kubos
    many = daemon.ipfs("resolve", "-r", f"/ipfs/{kubos}/many").strip().removeprefix("/ipfs/")
    assert _unixfs_type(daemon, many) == UnixFSType.HAMT_SHARD


def test_a_node_with_other_import_defaults_still_gives_our_cids(tmp_path):
    def other_defaults(config: dict) -> None:
        config["Import"] = {
            "CidVersion": 0,
            "UnixFSRawLeaves": False,
            "UnixFSChunker": "size-1024",
            "UnixFSFileMaxLinks": 3,
            "UnixFSDAGLayout": "trickle",
            "UnixFSIncludeEmptyDirs": False,
        }

    tree = _odd_tree(tmp_path)
    with running_kubo(tmp_path / "kubo", configure=other_defaults) as odd:
        store = KuboStore(odd.api_url, timeout=10.0, retries=0)
        assert store.add_dir(tree) == Importer().add_path(tree).cid
        data = os.urandom(10 * CHUNK)
        assert store.add_bytes(data) == Importer().add_bytes(data).cid
        store.close()


# -- reading, blocks, pins ------------------------------------------------------------------------


def test_what_we_read_is_what_kubo_serves(client, daemon, tmp_path):
    data = os.urandom(5 * CHUNK + 3)
    cid = client.add_bytes(data, pin=True)
    assert b"".join(bytes(piece) for piece in client.cat(cid)) == data
    kubo_get = tmp_path / "kubo-get.bin"
    daemon.ipfs("get", "-o", str(kubo_get), str(cid))  # Kubo's own reader agrees
    assert kubo_get.read_bytes() == data
    tree = _odd_tree(tmp_path / "src")
    with pytest.raises(IntegrityError, match="unsafe entry name"):  # the rule book's names
        client.get(client.add_dir(tree), tmp_path / "refused", symlinks=True)
    assert not (tmp_path / "refused").exists()
    (tree / os.fsdecode(b"not-utf8-\xff\xfe")).unlink()
    (tree / 'quote"and\\backslash').unlink()
    root = client.add_dir(tree)
    ours = tmp_path / "ours"
    client.get(root, ours, symlinks=True)
    assert (ours / "nested" / "big.bin").read_bytes() == (tree / "nested" / "big.bin").read_bytes()
    assert os.readlink(ours / "dangling link") == "does/not/exist"
    assert (ours / "empty folder").is_dir() and (ours / "empty file").read_bytes() == b""


def test_block_put_and_get_round_trip(client, daemon):
    raw = os.urandom(1000)
    cid = client.put_block(raw)
    assert cid == Cid.for_block(raw, RAW)
    assert client.get_block(cid) == raw
    node = encode_node([], EMPTY_DIRECTORY_DATA)
    node_cid = client.put_block(node, DAG_PB)
    assert node_cid == Cid.for_block(node, DAG_PB)
    assert json.loads(daemon.ipfs("block", "stat", "--enc=json", str(node_cid)))["Size"] == len(
        node
    )
    assert client.has(node_cid)


def test_pin_add_rm_ls(client):
    cid = client.add_bytes(os.urandom(2 * CHUNK))
    assert cid not in client.pins()
    client.pin(cid)
    assert cid in client.pins()
    client.unpin(cid)
    assert cid not in client.pins()
    with pytest.raises(NotFound, match="is not pinned"):
        client.unpin(cid)


def test_missing_content_is_not_found_within_the_timeout(daemon):
    store = KuboStore(daemon.api_url, timeout=2.0, retries=0)
    absent = Importer().add_bytes(b"on no node at all").cid
    with pytest.raises(NotFound, match="not available"):
        b"".join(store.cat(absent))
    with pytest.raises(NotFound, match="not every block"):
        store.pin(absent)
    assert not store.has(absent)
    store.close()


# -- archives and peers ---------------------------------------------------------------------------


def test_dag_export_is_our_car_and_imports_on_another_node(client, other_daemon, tmp_path):
    local = EmbeddedStore(tmp_path / "local", fsync=False)
    tree = _odd_tree(tmp_path)
    root = local.add_dir(tree)
    assert client.add_dir(tree, pin=True) == root
    ours, kubos = tmp_path / "ours.car", tmp_path / "kubo.car"
    local.export_car(root, ours)
    client.export_car(root, kubos)
    assert kubos.read_bytes() == ours.read_bytes()  # same blocks, same order
    other = KuboStore(other_daemon.api_url, timeout=10.0, retries=0)
    assert other.import_car(kubos) == [root]
    assert root in other.pins()
    other.close()


def test_a_tampered_car_is_refused_before_kubo_stores_any_of_it(client, tmp_path):
    local = EmbeddedStore(tmp_path / "local", fsync=False)
    cid = local.add_bytes(os.urandom(2 * CHUNK))
    car = tmp_path / "x.car"
    local.export_car(cid, car)
    tampered = tmp_path / "tampered.car"
    raw = bytearray(car.read_bytes())
    raw[-10] ^= 0xFF  # inside the last block
    tampered.write_bytes(raw)
    with pytest.raises(IntegrityError):
        client.import_car(tampered)
    assert not client.has(cid)  # not even the blocks that were intact reached Kubo
    with pytest.raises(InvalidInput, match="is not a file"):
        client.import_car(tmp_path)
    assert client.import_car(car) == [cid]  # the intact CAR imports and pins
    assert cid in client.pins()


def test_go_car_sample_v1_imports_into_kubo(client):
    roots = client.import_car(SAMPLE_CAR)
    assert [str(root) for root in roots] == [
        "bafy2bzaced4ueelaegfs5fqu4tzsh6ywbbpfk3cxppupmxfdhbpbhzawfw5oy"
    ]
    assert roots[0] in client.pins()


def test_two_nodes_connect_and_fetch_from_each_other_over_loopback(client, daemon, other_daemon):
    data = os.urandom(4 * CHUNK)
    cid = client.add_bytes(data, pin=True)
    other = KuboStore(other_daemon.api_url, timeout=20.0, retries=0)
    other.swarm_connect(list(client.identity().addresses))
    assert daemon.peer_id in other.swarm_peers()
    assert other_daemon.peer_id in client.swarm_peers()
    assert b"".join(bytes(piece) for piece in other.cat(cid)) == data  # via bitswap
    other.close()


def test_kubos_own_refusal_reaches_the_user(client, daemon):
    nobody = daemon.ipfs("key", "gen", "--ipns-base=b58mh", f"nobody-{os.getpid()}").strip()
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(KuboError, match="refused swarm/connect") as refused:
        client.swarm_connect([f"/ip4/127.0.0.1/tcp/{closed}/p2p/{nobody}"])
    assert nobody in refused.value.problem  # Kubo's own words, passed on


def test_a_peer_address_from_a_counterpart_is_checked_before_kubo_sees_it(client):
    for hostile in ["/ip4/127.0.0.1/tcp/4001", "--api=/ip4/1.2.3.4/tcp/5001", "x" * 600]:
        with pytest.raises(InvalidInput, match="is not an IPFS peer address"):
            client.swarm_connect([hostile])
