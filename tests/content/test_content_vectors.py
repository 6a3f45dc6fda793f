"""Our importer gives byte-identical CIDs to Kubo's ``ipfs add`` / ``ipfs add -r``.

Sources of expected CIDs:
* shared/vectors/kubo-unixfs-cids.json, copied to tests/content/data/ (from Kubo's
  test/cli/add_test.go and test/cli/cid_profiles_test.go);
* Kubo's sharness test test/sharness/t0040-add-and-cat.sh (directories "planets", "moons" and
  the ``ipfs add -r .`` tree), copied below with their inputs;
* Kubo's test/cli/cid_profiles_test.go (``DirBasicCID`` and ``DirHAMTCID`` of both profiles:
  one-byte files with deterministic names, exactly at and one byte over the HAMT threshold);
* Debian's ``ipfs_cid`` binary, when installed, as a second opinion on random inputs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from content_data import SHARED_VECTORS, VECTORS_FILE, chacha20_stream

from jobmarket.content.cid import Cid
from jobmarket.content.dagpb import UnixFSType, encode_link, encode_node, encode_unixfs
from jobmarket.content.importer import Importer, ImportParams

MiB = 1024 * 1024
CHUNK = 262144


def _params(vector: dict) -> ImportParams:
    return ImportParams(
        cid_version=vector["cid_version"],
        raw_leaves=vector.get("raw_leaves"),
        chunk_size=vector.get("chunk_size", CHUNK),
        max_links=vector.get("max_links", 174),
    )


def _vector_id(vector: dict) -> str:
    source = vector["input"]
    if "literal" in source:
        what = f"literal{len(source['literal'])}"
    else:
        what = f"{source['chacha20']['seed']}-{source['chacha20']['size']}"
    return f"{what}-v{vector['cid_version']}-raw{vector.get('raw_leaves', 'default')}"


def test_vectors_copy_matches_shared():
    shared = next((path for path in SHARED_VECTORS if path.is_file()), None)
    if shared is None:
        pytest.fail("shared/vectors is not beside this checkout")
    assert VECTORS_FILE.read_bytes() == shared.read_bytes()


def test_every_vector_reproduces_kubo_cid(kubo_vectors, vector_input):
    """Every file vector, through the library (streamed from disk, constant memory)."""
    failures = []
    for vector in kubo_vectors["files"]:
        cid = Importer(_params(vector)).add_file(vector_input(vector["input"])).cid
        if str(cid) != vector["expect"]:
            failures.append(f"{_vector_id(vector)}: got {cid}, Kubo gives {vector['expect']}")
    assert not failures
    assert len(kubo_vectors["files"]) >= 11


def test_requester_cid_prints_kubo_cid_for_every_vector(kubo_vectors, vector_input, cli):
    """The CLI path: empty file, chunk boundary and ±1, 174 chunks and 175 (two levels)."""
    for vector in kubo_vectors["files"]:
        args = ["cid", str(vector_input(vector["input"])), "--cid-version"]
        args.append(str(vector["cid_version"]))
        if vector.get("raw_leaves") is False:
            args.append("--no-raw-leaves")
        if "chunk_size" in vector:
            args += ["--chunk-size", str(vector["chunk_size"])]
        if "max_links" in vector:
            args += ["--max-links", str(vector["max_links"])]
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == vector["expect"] + "\n", _vector_id(vector)


# -- directories: Kubo's sharness t0040-add-and-cat.sh -------------------------------------------


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


PLANETS = {"mars.txt": "Hello Mars!\n", "venus.txt": "Hello Venus!\n"}
MOONS = {
    "jupiter/europa.txt": "Hello Europa!\n",
    "saturn/titan.txt": "Hello Titan!\n",
    "mercury.txt": "hey youre no moon!\n",
}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"cid_version": 0}, "QmWSgS32xQEcXMeqd3YPJLrNBLSdsfYCep2U7CFkyrjXwY"),
        ({"cid_version": 0, "raw_leaves": True}, "QmfWfQfKCY5Ukv9peBbxM5vqWM9BzmqUSXvdCgjT2wsiBT"),
        ({"cid_version": 1}, "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi"),
        (
            {"cid_version": 1, "raw_leaves": False},
            "bafybeif5tuep5ap2d7zyhbktucey75aoacxufgt6i3v4gebmixyipnyp7y",
        ),
    ],
    ids=["v0", "v0-raw-leaves", "v1", "v1-no-raw-leaves"],
)
def test_planets_directory_matches_sharness(tmp_path, flags, expected):
    planets = _write_tree(tmp_path / "planets", PLANETS)
    entries: dict[str, str] = {}
    node = Importer(ImportParams(**flags)).add_path(
        planets, on_entry=lambda path, node, _: entries.__setitem__(path, str(node.cid))
    )
    assert str(node.cid) == expected
    if flags == {"cid_version": 0}:  # the per-file lines of `ipfs add -r` too
        assert entries["mars.txt"] == "QmPrrHqJzto9m7SyiRzarwkqPcCSsKR2EB1AyqJfe8L8tN"
        assert entries["venus.txt"] == "QmU5kp3BH3B8tnWUU2Pikdb2maksBNkb92FHRr56hyghh4"
    if flags.get("raw_leaves", flags["cid_version"] == 1):
        assert entries["mars.txt"] == "bafkreibmlvvgdyihetgocpof6xk64kjjzdeq2e4c7hqs3krdheosk4tgj4"


def test_nested_directories_match_sharness(tmp_path, cli):
    moons = _write_tree(tmp_path / "moons", MOONS)
    entries: dict[str, str] = {}
    root = Importer(ImportParams(cid_version=0)).add_path(
        moons, on_entry=lambda path, node, _: entries.__setitem__(path, str(node.cid))
    )
    assert str(root.cid) == "QmVKvomp91nMih5j6hYBA8KjbiaYvEetU2Q7KvtZkLe9nQ"
    assert entries == {
        "jupiter/europa.txt": "Qmbjg7zWdqdMaK2BucPncJQDxiALExph5k3NkQv5RHpccu",
        "jupiter": "QmS5mZddhFPLWFX3w6FzAy9QxyYkaxvUpsWCtZ3r7jub9J",
        "saturn/titan.txt": "QmZzppb9WHn552rmRqpPfgU5FEiHH6gDwi3MrB9cTdPwdb",
        "saturn": "QmaMagZT4rTE7Nonw8KGSK4oe1bh533yhZrCo1HihSG8FK",
        "mercury.txt": "QmUJjVtnN8YEeYcS8VmUeWffTWhnMQAkk5DzZdKnPhqUdK",
        "": "QmVKvomp91nMih5j6hYBA8KjbiaYvEetU2Q7KvtZkLe9nQ",
    }
    result = cli("cid", str(moons), "--cid-version", "0")
    assert result.stdout == "QmVKvomp91nMih5j6hYBA8KjbiaYvEetU2Q7KvtZkLe9nQ\n"


def test_hidden_entries_are_skipped_like_ipfs_add_r(tmp_path, cli):
    """`ipfs add -r .` of {hey, hello/world} in sharness; a dotfile must not change the CID."""
    tree = _write_tree(tmp_path / "current", {"hey": "Hey\n", "hello/world": "World\n"})
    (tree / ".hidden").write_text("not part of ipfs add -r without --hidden\n")
    result = cli("cid", str(tree), "--cid-version", "0")
    assert result.stdout == "QmZQWnfcqJ6hNkkPvrY9Q5X39GP3jUnUbAV4AbmbbR3Cb1\n"
    with_hidden = cli("cid", str(tree), "--cid-version", "0", "--hidden")
    assert with_hidden.stdout != result.stdout


def test_empty_directory_is_kubos_empty_unixfs_dir(tmp_path):
    """The well-known empty folder (`ipfs object new unixfs-dir`, `ipfs add -r` of an empty dir)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert str(Importer(ImportParams(cid_version=0)).add_path(empty).cid) == (
        "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
    )
    assert str(Importer().add_path(empty).cid) == (
        "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    )


# -- directories: Kubo's test/cli/cid_profiles_test.go -------------------------------------------

ALPHABET_EASY = "abcdefghijklmnopqrstuvwxyz01234567890-_"  # Kubo's testutils.AlphabetEasy


def _deterministic_files(folder: Path, count: int, name_length: int, last: int, seed: str):
    """Kubo's createDeterministicFiles: names from the seed's ChaCha20 stream, content "x"."""
    folder.mkdir()
    stream = chacha20_stream(seed, MiB)
    position = 0
    for index in range(count):
        length = last if index == count - 1 else name_length
        raw = stream[position : position + length]
        position += length
        (folder / "".join(ALPHABET_EASY[byte % len(ALPHABET_EASY)] for byte in raw)).write_bytes(
            b"x"
        )
    return folder


def test_directory_exactly_at_sharding_threshold_matches_kubo_v0(tmp_path):
    folder = _deterministic_files(tmp_path / "d", 4096, 30, 30, "hamt-unixfs-v0-2015")
    cid = Importer(ImportParams(cid_version=0)).add_path(folder).cid
    assert str(cid) == "QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN"


def test_large_flat_directory_matches_kubo_v1(tmp_path):
    folder = _deterministic_files(tmp_path / "d", 4766, 11, 21, "hamt-unixfs-v1-2025")
    cid = Importer(ImportParams(cid_version=1)).add_path(folder).cid
    assert str(cid) == "bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4"


def test_directory_one_byte_over_the_threshold_is_kubos_hamt_v0(tmp_path):
    """4033 * (31 + 34) = 262145: boxo's estimate is one byte over, so Kubo shards it."""
    folder = _deterministic_files(tmp_path / "d", 4033, 31, 31, "hamt-unixfs-v0-2015")
    cid = Importer(ImportParams(cid_version=0)).add_path(folder).cid
    assert str(cid) == "QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP"


def test_block_estimation_profile_matches_kubo_at_and_over_the_threshold(tmp_path):
    """unixfs-v1-2025 estimates the real block size: 262144 stays basic, 262145 shards."""
    params = ImportParams(
        cid_version=1, chunk_size=1048576, max_links=1024, hamt_estimation="block"
    )
    at = _deterministic_files(tmp_path / "at", 4766, 11, 21, "hamt-unixfs-v1-2025")
    over = _deterministic_files(tmp_path / "over", 4766, 11, 22, "hamt-unixfs-v1-2025")
    assert str(Importer(params).add_path(at).cid) == (
        "bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4"
    )
    assert str(Importer(params).add_path(over).cid) == (
        "bafybeiegvuterwurhdtkikfhbxcldohmxp566vpjdofhzmnhv6o4freidu"
    )


# -- balanced layout: an independent port of Kubo's recursive builder ----------------------------


def _reference_cid(data: bytes, params: ImportParams) -> Cid:
    """boxo's balanced.Layout written the way Go writes it (recursive fillNodeRec), v0 leaves.

    The importer under test streams with lazily closed levels instead; both must agree.
    """
    chunks = [data[i : i + params.chunk_size] for i in range(0, len(data), params.chunk_size)]
    position = 0

    def leaf() -> tuple[Cid, int, int]:
        nonlocal position
        chunk = chunks[position]
        position += 1
        block = encode_node([], encode_unixfs(UnixFSType.FILE, chunk, len(chunk)))
        return Cid(0, 0x70, hashlib.sha256(block).digest()), len(block), len(chunk)

    def node(children: list[tuple[Cid, int, int]]) -> tuple[Cid, int, int]:
        sizes = [child[2] for child in children]
        data = encode_unixfs(UnixFSType.FILE, filesize=sum(sizes), blocksizes=sizes)
        block = encode_node([encode_link(c, b"", t) for c, t, _ in children], data)
        tsize = len(block) + sum(child[1] for child in children)
        return Cid(0, 0x70, hashlib.sha256(block).digest()), tsize, sum(sizes)

    def fill(children: list, depth: int):
        while len(children) < params.max_links and position < len(chunks):
            children.append(leaf() if depth == 1 else fill([], depth - 1))
        return node(children)

    root = leaf()
    depth = 1
    while position < len(chunks):
        root = fill([root], depth)
        depth += 1
    return root[0]


def test_streaming_layout_equals_kubos_recursive_layout_at_every_size():
    """Tiny chunks and 3 links per node reach 5 levels; every chunk count up to 3**4 + 4."""
    params = ImportParams(cid_version=0, chunk_size=2, max_links=3)
    data = bytes(range(256)) * 2
    for chunks in range(1, 3**4 + 5):
        sample = data[: chunks * 2 - 1]  # last chunk short: exercises the partial leaf too
        assert Importer(params).add_bytes(sample).cid == _reference_cid(sample, params), chunks
