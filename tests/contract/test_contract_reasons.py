"""The contract, the Python mirror, the spec and the tests agree on every reason and state."""

import ast
import re
from pathlib import Path

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = [
    REPO / "contracts" / "JobMarket.vy",
    *sorted((REPO / "contracts" / "modules").glob("*.vy")),
]
SPEC = REPO / "docs" / "contract-spec.md"
TESTS = Path(__file__).parent


def _code_without_docs(path: Path) -> str:
    text = re.sub(r'""".*?"""', "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return re.sub(r"#.*", "", text)


def contract_reasons() -> set[str]:
    """Every string literal in the contract's code (function signatures given to
    ``method_id`` aside): all of them are revert reasons."""
    found = set()
    for path in CONTRACTS:
        code = re.sub(r'method_id\("[^"]*"\)', "", _code_without_docs(path))
        found |= set(re.findall(r'(?<![b\w])"([^"\n]+)"', code))
    return found


def spec_reasons() -> set[str]:
    section = SPEC.read_text(encoding="utf-8").split("## Revert reasons", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


def test_the_python_mirror_lists_exactly_the_contracts_reasons():
    assert contract_reasons() == {reason.value for reason in Revert}


def test_the_spec_documents_exactly_the_contracts_reasons():
    assert spec_reasons() == {reason.value for reason in Revert}


def _reason_names(node: ast.AST) -> set[str]:
    """``Revert.NAME`` (or ``R.NAME``) references in code under ``node`` (never comments)."""
    return {
        sub.attr
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Name)
        and sub.value.id in ("Revert", "R")
    }


def _asserted_reasons(source: str) -> set[str]:
    """Reasons a test module really checks: inside an ``assert``, in ``reverts(...)`` /
    ``pytest.raises(...)``, or in a case table (a call's arguments, a list, a dict) of a module
    that checks ``reverts(<a variable>)`` — the table's reason flows into that check."""
    tree = ast.parse(source)
    found: set[str] = set()
    checks_a_variable = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            found |= _reason_names(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in ("reverts", "raises"):
                found |= _reason_names(node)
                checks_a_variable |= any(not _reason_names(arg) for arg in node.args)
    if checks_a_variable:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call | ast.List | ast.Tuple | ast.Dict):
                found |= _reason_names(node)
    return found


def test_a_reason_named_only_in_a_comment_or_a_string_does_not_count():
    source = (
        '# Revert.PAUSED\n"Revert.PAUSED"\nx = 1\ndef f():\n    assert x == Revert.JOB_NOT_OPEN\n'
    )
    assert _asserted_reasons(source) == {"JOB_NOT_OPEN"}
    assert _asserted_reasons("with ape.reverts(Revert.PAUSED):\n    pass\n") == {"PAUSED"}
    assert _asserted_reasons("y = [Revert.PAUSED]\n") == set()  # a table nothing checks


def test_every_reason_is_asserted_by_a_test():
    asserted: set[str] = set()
    for path in TESTS.glob("test_*.py"):
        if path.name != Path(__file__).name:
            asserted |= _asserted_reasons(path.read_text(encoding="utf-8"))
    unasserted = {reason.name for reason in Revert} - asserted
    assert not unasserted


def test_job_states_mirror_the_contract_constants():
    code = _code_without_docs(REPO / "contracts" / "JobMarket.vy")
    constants = dict(re.findall(r"^([A-Z]+): constant\(uint256\) = (\d+)$", code, re.MULTILINE))
    assert {state.name: state.value for state in JobState} == {
        name: int(constants[name]) for name in (state.name for state in JobState)
    }
    assert {state for state in JobState if state.is_terminal} == {
        JobState.ACCEPTED,
        JobState.RESOLVED,
        JobState.CANCELED,
        JobState.EXPIRED,
    }
