"""Job specs: canonical bytes (same spec, same CID), sensible defaults, one-line errors."""

from __future__ import annotations

import json

import pytest

from jobmarket.content.importer import Importer
from jobmarket.errors import InvalidInput
from jobmarket.spec import DocumentInvalid, JobSpec

PINNED = "docker.io/library/python@sha256:" + "ab" * 32


def _spec(**overrides) -> dict:
    document = {"image": PINNED, "command": ["python", "-c", "print(1)"]}
    document.update(overrides)
    return document


def test_defaults_are_safe():
    spec = JobSpec.parse(_spec())
    assert spec.network == "none"
    assert spec.verifier == "manual"
    assert spec.resources.memory_mb == 512 and spec.resources.gpu == 0
    assert spec.outputs == []  # everything in /out
    assert spec.version == 1
    assert spec.image_is_pinned


def test_same_spec_in_any_key_order_has_the_same_cid():
    first = JobSpec.parse(json.dumps(_spec(env={"B": "2", "A": "1"})))
    reordered = dict(reversed(list(_spec(env={"A": "1", "B": "2"}).items())))
    second = JobSpec.parse(json.dumps(reordered, indent=4))
    assert first.to_block() == second.to_block()
    data, _ = first.to_block()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()


def test_spec_cid_is_what_ipfs_add_cid_version_1_gives_for_its_bytes():
    data, cid = JobSpec.parse(_spec()).to_block()
    assert str(cid).startswith("bafkrei")
    assert cid == Importer().add_bytes(data).cid
    assert JobSpec.parse(_spec()).digest == cid.digest


def test_a_fetched_spec_parses_back_to_the_same_spec():
    spec = JobSpec.parse(
        _spec(
            inputs=[
                {"cid": "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD", "path": "data/hello.txt"}
            ]
        )
    )
    data, cid = spec.to_block()
    assert JobSpec.from_block(cid, data) == spec


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"resources": {"memory_mb": 70000}}, "resources.memory_mb: must be ≤ 65536"),
        ({"resources": {"cpu": 0}}, "resources.cpu: must be ≥ 0.1"),
        ({"resources": {"gpu": 9}}, "resources.gpu: must be ≤ 8"),
        ({"timeout_s": 0}, "timeout_s: must be ≥ 1"),
        ({"network": "host"}, "network: must be none or bridge"),
        ({"verifier": "trust-me"}, "verifier: must be manual, exit_code or reexecute"),
        ({"command": []}, "command: must have at least 1 item"),
        ({"image": "UPPER/case"}, "image: must be a Docker image reference"),
        ({"image": "alpine@sha256:abc"}, "image: must be a Docker image reference"),
        ({"env": {"1BAD": "x"}}, "env: '1BAD' is not a valid variable name"),
        ({"inputs": [{"cid": "nope", "path": "a"}]}, "inputs.0.cid: 'nope' is not a CID"),
        (
            {"inputs": [{"cid": "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD", "path": "../x"}]},
            "inputs.0.path: component '..' must not be '.' or '..'",
        ),
        ({"outputs": ["/etc/passwd"]}, "outputs.0: must be relative (no leading /)"),
        ({"outputs": ["a", "a/b"]}, "outputs: path 'a/b' lies inside 'a'"),
        ({"outputs": ["a", "a"]}, "outputs: path 'a' appears twice"),
        ({"env": {"A\n": "x"}}, "env: 'A\\n' is not a valid variable name"),
        ({"env": {"A": "x\0"}}, "env: value of A must not contain NUL characters"),
        ({"image": "alpine:3.20\n"}, "image: must be a Docker image reference"),
        ({"image": "alpine:vé"}, "image: must be a Docker image reference"),
        ({"outputs": ["ok/" + "x" * 300]}, "outputs.0: component 'xxxx"),
        ({"outputs": ["a\\b"]}, "outputs.0: component 'a\\\\b' must not contain a backslash"),
        ({"outputs": ["a\x1b[2J"]}, "outputs.0: component 'a\\x1b[2J' must not contain control"),
        (
            {
                "inputs": [
                    {"cid": "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD", "path": "é" * 130}
                ]
            },
            "inputs.0.path: component 'éééé",
        ),
        ({"colour": "blue"}, "colour: is not a known field (check the spelling)"),
        ({"version": 2}, "version: must be 1"),
    ],
)
def test_each_broken_rule_is_one_line_naming_field_and_rule(overrides, line):
    with pytest.raises(DocumentInvalid) as caught:
        JobSpec.parse(_spec(**overrides), "spec.json")
    assert caught.value.lines == [line] or caught.value.lines[0].startswith(line)
    assert len(caught.value.lines) == 1


def test_several_problems_give_several_lines():
    with pytest.raises(DocumentInvalid) as caught:
        JobSpec.parse({"command": "not a list", "resources": {"memory_mb": -1}})
    assert caught.value.lines == [
        "image: is required",
        "command: input should be a valid list",
        "resources.memory_mb: must be ≥ 16",
    ]


def test_spec_larger_than_one_block_is_refused():
    spec = JobSpec.parse(_spec(command=["x" * 4000] * 70))
    with pytest.raises(DocumentInvalid, match="must be ≤ 262144 bytes"):
        spec.to_block()


def test_docker_references_that_are_valid():
    for image in (
        "alpine",
        "alpine:3.20",
        "localhost:5000/team/app:v1.2",
        PINNED,
        "ghcr.io/owner/repo/app:latest@sha256:" + "0" * 64,
    ):
        assert JobSpec.parse(_spec(image=image)).image == image
    assert not JobSpec.parse(_spec(image="alpine:3.20")).image_is_pinned


def test_a_folder_given_as_spec_file_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="is a folder; give a JSON file"):
        JobSpec.from_file(tmp_path)


def test_not_json_is_one_line():
    with pytest.raises(DocumentInvalid) as caught:
        JobSpec.parse(b"{not json", "spec.json")
    assert caught.value.lines[0].startswith("document: is not valid JSON")


def test_requester_publishes_and_provider_fetches_by_the_on_chain_digest(tmp_path):
    from jobmarket.content.embedded import EmbeddedStore
    from jobmarket.errors import IntegrityError

    store = EmbeddedStore(tmp_path / "ipfs", fsync=False)
    spec = JobSpec.parse(_spec(name="hello"))
    cid = spec.publish(store)
    assert cid == spec.cid and cid in store.pins()
    assert JobSpec.fetch(store, cid.digest) == spec  # the provider only knows the 32 bytes

    path = store.blocks.path_for(cid)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"hello", b"HELLO"))
    with pytest.raises(IntegrityError, match="corrupted on disk"):
        JobSpec.fetch(store, cid.digest)


def test_names_at_the_limits_of_the_rule_book_are_accepted():
    component = "é" * 127 + "x"  # 255 bytes of UTF-8
    path = "/".join([component] * 4)  # 1023 bytes
    spec = JobSpec.parse(
        _spec(
            outputs=[path],
            inputs=[{"cid": "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD", "path": component}],
            env={"A" * 255: "x" * 4096},
        )
    )
    assert spec.outputs == [path] and spec.inputs[0].path == component


def test_one_byte_past_a_limit_is_refused():
    with pytest.raises(DocumentInvalid, match="is 256 bytes; a name may have at most 255"):
        JobSpec.parse(_spec(outputs=["é" * 128]))
    with pytest.raises(DocumentInvalid, match="a path may have at most 1024 bytes"):
        JobSpec.parse(_spec(outputs=["/".join(["x" * 255] * 4) + "/yy"]))
    with pytest.raises(DocumentInvalid, match="at most 255"):
        JobSpec.parse(_spec(env={"A" * 256: "x"}))


def test_a_deeply_nested_spec_is_one_line_not_a_recursion_error():
    for depth in (65, 100_000):
        with pytest.raises(DocumentInvalid) as caught:
            JobSpec.parse(b"[" * depth + b"]" * depth, "spec.json")
        assert caught.value.lines == ["document: nests deeper than 64 levels"]
    with pytest.raises(DocumentInvalid) as caught:  # unbalanced, as a hostile block may be
        JobSpec.parse(b'{"a":' * 50_000, "spec.json")
    assert caught.value.lines == ["document: nests deeper than 64 levels"]


def test_brackets_inside_strings_do_not_count_as_nesting():
    deep_text = "[{" * 400 + '\\"' + "[" * 500
    spec = JobSpec.parse(json.dumps(_spec(name="[" * 100, description=deep_text)))
    assert spec.description == deep_text
    nested_64 = json.dumps(_spec(labels=None)).replace(
        '"labels": null', '"x": ' + "[" * 62 + "]" * 62
    )
    with pytest.raises(DocumentInvalid) as caught:  # 64 levels parse; the field is unknown
        JobSpec.parse(nested_64)
    assert caught.value.lines == ["x: is not a known field (check the spelling)"]
