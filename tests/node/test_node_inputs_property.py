"""The rule, as a property: whatever spec and inputs pass the node's pre-claim check stage
(real embedded store, real staging into a temporary folder) and make a valid execution
request. No Docker: the executor's request is built and validated, not run.

Inputs are made block by block, so names the local filesystem could not even hold (300-byte
components, control characters, invalid UTF-8) reach the check, beside names at the limits
(255-byte components of multi-byte characters, paths near 1,024 bytes), odd Unicode, symbolic
links pointing anywhere, and empty files and folders.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hostile_inputs import directory, symlink
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jobmarket.content.cid import Cid
from jobmarket.content.embedded import EmbeddedStore
from jobmarket.docker_engine import DEFAULT_IMAGE
from jobmarket.spec.inputs import inspect_inputs
from jobmarket.spec.job import JobSpec
from jobmarket.spec.validation import DocumentInvalid
from provider_node.executor import ExecutionRequest, Limits
from provider_node.io.inputs import stage_inputs

AT_THE_LIMIT = [
    "é" * 127 + "x",  # 255 bytes
    "😀" * 63 + "abc",  # 255 bytes
    "x" * 255,
    "e\u0301" * 85,  # combining accents, 255 bytes
    "\u202eevil.txt",  # right-to-left override
    "zero\u200bwidth",
    "ﬁle",
    " leading and trailing space ",
    "-rf",
    ".hidden",
    "...",
]
BROKEN = [
    "x" * 256,
    "é" * 128,
    "a\nb",
    "esc\x1b[2J",
    ".",
    "..",
    "a\\b",
    "tab\t",
    "del\x7f",
    "c1\x85",
]

plain = st.text(  # any printable Unicode: letters, marks, emoji, format characters
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/\\"
    ),
    min_size=1,
    max_size=12,
).filter(lambda name: name not in (".", ".."))
good_names = st.one_of(plain, st.sampled_from(AT_THE_LIMIT))
# Mostly good, so that most examples reach staging; a broken one now and then.
names = st.one_of(good_names, good_names, good_names, st.sampled_from(BROKEN))
encoded = names.map(lambda name: name.encode("utf-8"))
raw_names = st.one_of(encoded, encoded, encoded, st.sampled_from([b"\xff\xfe", b"x" * 300]))
link_targets = st.one_of(
    st.sampled_from(["/etc/shadow", "../../../../etc/passwd", "file", ".", "/in", "x" * 4000]),
    plain,
)


def _trees():
    leaves = st.one_of(
        st.binary(max_size=64).map(lambda data: ("file", data)),
        link_targets.map(lambda target: ("link", target.encode("utf-8"))),
        st.just(("dir", {})),
    )
    return st.recursive(
        leaves,
        lambda children: st.dictionaries(raw_names, children, max_size=4).map(
            lambda entries: ("dir", entries)
        ),
        max_leaves=10,
    )


def _mount_paths():
    # Four 255-byte components fit (1,023 bytes), a fifth does not.
    return st.one_of(
        st.lists(names, min_size=1, max_size=2), st.lists(good_names, min_size=3, max_size=5)
    ).map("/".join)


def _store_tree(store: EmbeddedStore, tree: tuple) -> Cid:
    kind, value = tree
    if kind == "file":
        return store.add_bytes(value)
    if kind == "link":
        return symlink(store, value)
    return directory(store, {name: _store_tree(store, child) for name, child in value.items()})


@st.composite
def jobs(draw):
    inputs = draw(st.lists(st.tuples(_mount_paths(), _trees()), min_size=1, max_size=3))
    env = draw(
        st.dictionaries(
            st.one_of(
                st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
                st.sampled_from(["A" * 255, "_"]),
                st.sampled_from(["A\n", "A" * 256, "É", "1A", "A=B"]),
            ),
            st.text(max_size=20),
            max_size=3,
        )
    )
    outputs = draw(st.lists(_mount_paths(), max_size=2))
    return inputs, env, outputs


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    """Overrides the suite's root check: nothing here mounts anything or talks to Docker."""


_STORE_DIR = Path(tempfile.mkdtemp(prefix="rulebook-store-"))
STORE = EmbeddedStore(_STORE_DIR / "ipfs", fsync=False)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(jobs())
def test_whatever_passes_the_pre_claim_check_stages_and_makes_a_valid_request(job) -> None:
    inputs, env, outputs = job
    document = {
        "image": DEFAULT_IMAGE,
        "command": ["sh", "-c", "ls -lR /in"],
        "env": env,
        "outputs": outputs,
        "inputs": [{"cid": str(_store_tree(STORE, tree)), "path": path} for path, tree in inputs],
    }
    try:
        spec = JobSpec.parse(document)
    except DocumentInvalid as err:
        event("spec refused: " + err.lines[0].split(":")[0].split(".")[0])
        return
    report = inspect_inputs(STORE.get_block, spec)
    if report.problems:
        event("declined before the claim")
        return
    event(f"accepted with {len(spec.inputs)} inputs")

    folder = Path(tempfile.mkdtemp(prefix="staged-")) / "inputs"
    try:
        staged = stage_inputs(STORE, spec, folder)  # must not raise: the check passed
        ExecutionRequest(
            key="rule-book",
            image=spec.image,
            argv=tuple(spec.command),
            env=spec.env,
            inputs=staged,
            limits=Limits(),
        )
        written = 0
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    written += os.lstat(path).st_size
        assert written == report.total_bytes
        assert all(os.path.lexists(folder / mount.path) for mount in spec.inputs)
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


def teardown_module() -> None:
    shutil.rmtree(_STORE_DIR, ignore_errors=True)
