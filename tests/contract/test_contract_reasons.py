"""The contract, the Python mirror, the spec and the tests agree on every reason and state."""

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


def test_every_reason_is_asserted_by_a_test():
    text = "\n".join(
        path.read_text(encoding="utf-8")
        for path in TESTS.glob("test_*.py")
        if path.name != Path(__file__).name
    )
    unasserted = {
        reason.name for reason in Revert if not re.search(rf"\b(Revert|R)\.{reason.name}\b", text)
    }
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
