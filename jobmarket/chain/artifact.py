"""The JobMarket contract type bundled with the package, so tools work outside the ape project.

``JobMarket.json`` is generated from the compiler's output by ``python -m jobmarket.chain.export``
and checked against a fresh compile by the test suite; it holds only what clients need (ABI,
bytecode, NatSpec), not the compiler's source maps. web3.py users read it with
:func:`bundle_json`; ape users get an ``ethpm_types.ContractType`` from :func:`contract_type`.
"""

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmarket.errors import NotFound

if TYPE_CHECKING:
    from ethpm_types import ContractType

ARTIFACT_PATH = Path(__file__).with_name("JobMarket.json")
# Fields of ape's ContractType that the bundle keeps (by their JSON names).
BUNDLED_FIELDS = (
    "contractName",
    "sourceId",
    "abi",
    "deploymentBytecode",
    "runtimeBytecode",
    "methodIdentifiers",
    "devdoc",
    "userdoc",
)


def bundle(contract_type: "ContractType") -> dict[str, Any]:
    """The part of a compiled contract type that goes into the bundle, as plain JSON data."""
    data = contract_type.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {name: data[name] for name in BUNDLED_FIELDS if name in data}


@cache
def bundle_json() -> dict[str, Any]:
    """The bundled artifact as JSON data: ``abi``, ``deploymentBytecode.bytecode``, ... (read once).

    Treat it as read-only: it is shared by every caller.
    """
    try:
        return json.loads(ARTIFACT_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise NotFound(
            f"the bundled contract artifact {ARTIFACT_PATH} is missing",
            "reinstall the package or run `python -m jobmarket.chain.export` in the repository",
        ) from err


@cache
def contract_type() -> "ContractType":
    """The bundled JobMarket as an ape/ethpm ``ContractType`` (read once)."""
    from ethpm_types import ContractType

    return ContractType.model_validate(bundle_json())


def _without_metadata(bytecode: str) -> str:
    """Vyper's deployment bytecode less its trailing CBOR metadata (source integrity hash and
    compiler version; its length is the last two bytes): a comment-only edit changes it."""
    code = bytes.fromhex(bytecode.removeprefix("0x"))
    if len(code) < 2:
        return code.hex()
    length = int.from_bytes(code[-2:], "big")
    return code[: -(length + 2)].hex() if length + 2 <= len(code) else code.hex()


def same_code(compiled: dict[str, Any], bundled: dict[str, Any]) -> bool:
    """Whether two bundles deploy the same contract: same ABI, same runtime code, same
    deployment code apart from the compiler's metadata trailer."""
    return (
        compiled.get("abi") == bundled.get("abi")
        and compiled["runtimeBytecode"]["bytecode"] == bundled["runtimeBytecode"]["bytecode"]
        and _without_metadata(compiled["deploymentBytecode"]["bytecode"])
        == _without_metadata(bundled["deploymentBytecode"]["bytecode"])
    )
