"""Shared rules for protocol documents: one-line error messages and canonical JSON.

Documents cross the network as content-addressed JSON, so two rules matter everywhere:
a document must serialize to exactly the same bytes every time (sorted keys, no spaces,
UTF-8), and a person must be told precisely which field broke which rule
(``resources.memory_mb: must be ≤ 65536``), one line per problem.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from jobmarket.content.cid import RAW, Cid
from jobmarket.content.store import ContentStore
from jobmarket.errors import IntegrityError, InvalidInput
from jobmarket.names import check_path

MAX_DOCUMENT_BYTES = 262144
"""A document must fit one raw block (one default chunk), so its CID is ``bafkrei…``."""

MAX_JSON_DEPTH = 64
"""No protocol document nests deeper than a few levels; 64 leaves room and stops a document of
100,000 brackets from exhausting the parser's recursion (a RecursionError, not a refusal)."""

Model = TypeVar("Model", bound=BaseModel)


class DocumentInvalid(InvalidInput):
    """A document broke one or more rules; ``lines`` holds one ``field: rule`` per problem."""

    def __init__(self, lines: list[str], source: str) -> None:
        self.lines = lines
        self.source = source
        summary = f"{source} is invalid: " + "; ".join(lines)
        super().__init__(summary, "fix the fields named above and try again")


def _rule(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "less_than_equal":
        return f"must be ≤ {ctx['le']}"
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field (check the spelling)"
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        unit = "characters" if kind == "string_too_long" else "items"
        return f"must have at most {limit} {unit}"
    if kind in ("string_too_short", "too_short"):
        limit = ctx.get("min_length")
        unit = "character" if kind == "string_too_short" else "item"
        return f"must have at least {limit} {unit}{'s' if limit != 1 else ''}"
    if kind == "literal_error":
        return "must be " + str(ctx.get("expected", "")).replace("'", "")
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message[:1].lower() + message[1:]


def error_lines(err: ValidationError) -> list[str]:
    """``field.path: rule`` for each problem pydantic found, in document order."""
    lines = []
    for error in err.errors():
        location = ".".join(str(part) for part in error["loc"]) or "document"
        lines.append(f"{location}: {_rule(error)}")
    return lines


def parse_document(
    model: type[Model], data: Any, source: str, limit: int = MAX_DOCUMENT_BYTES
) -> Model:
    """Validate ``data`` (a dict, JSON text or bytes) as ``model``; errors as one-liners."""
    if isinstance(data, bytes | bytearray | memoryview):
        if len(data) > limit:
            raise DocumentInvalid([f"document: must be ≤ {limit} bytes"], source)
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentInvalid(["document: must be UTF-8 text"], source) from None
    if isinstance(data, str):
        data = load_json(data, source)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise DocumentInvalid(error_lines(err), source) from None


# A JSON string with its escapes (unterminated: to the end), and runs of anything but brackets.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth_problem(text: str, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``text`` nests too deeply to be parsed, or None; iterative, so any depth is safe.

    Brackets inside strings do not count. A closing bracket with nothing open is left for the
    parser, which stops there before nesting anything.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return None  # cannot nest deeper than it has openings (nearly every document)
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    if max(accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0) > max_depth:
        return f"document: nests deeper than {max_depth} levels"
    return None


def load_json(text: str, source: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for text a counterpart wrote: too deep or invalid is one DocumentInvalid."""
    problem = json_depth_problem(text, max_depth)
    if problem:
        raise DocumentInvalid([problem], source)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise DocumentInvalid([f"document: is not valid JSON ({err})"], source) from None


def canonical_json(model: BaseModel) -> bytes:
    """The one byte representation of a document: sorted keys, compact, UTF-8, no nulls."""
    document = model.model_dump(mode="json", exclude_none=True, by_alias=True)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def document_block(model: BaseModel, source: str) -> tuple[bytes, Cid]:
    """Canonical bytes and their CIDv1 raw CID; refuses documents larger than one block."""
    data = canonical_json(model)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentInvalid(
            [f"document: is {len(data)} bytes; must be ≤ {MAX_DOCUMENT_BYTES} bytes"], source
        )
    return data, Cid.for_block(data, RAW)


def publish_document(store: ContentStore, model: BaseModel, source: str) -> Cid:
    """Add a document's canonical bytes to ``store`` (pinned); returns its ``bafkrei…`` CID."""
    data, cid = document_block(model, source)
    stored = store.add_bytes(data, pin=True)
    if stored != cid:  # cannot happen for ≤ one chunk with CIDv1 defaults; guard regardless
        raise IntegrityError(f"{source} was stored as {stored}, expected {cid}")
    return cid


def fetch_document(store: ContentStore, model: type[Model], digest: bytes, source: str) -> Model:
    """Fetch the document whose sha2-256 the chain recorded, verified, and validate it."""
    cid = Cid.from_digest(bytes(digest), RAW)
    return parse_document(model, store.get_block(cid), f"{source} {cid}")


def read_document_file(
    model: type[Model], path: str | Path, limit: int = MAX_DOCUMENT_BYTES
) -> Model:
    """Read and validate a document from a local file; an unreadable path is one clear error."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{source} does not exist; check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{source} is a folder; give a JSON file") from None
    except PermissionError:
        raise InvalidInput(f"{source} is not readable; check its permissions") from None
    return parse_document(model, data, str(source), limit=limit)


class StrictModel(BaseModel):
    """Frozen and closed (unknown fields are errors): every protocol document and its parts."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Document(StrictModel):
    """A document stored as one raw block of canonical JSON; the chain records its digest."""

    document_name: ClassVar[str] = "document"

    def to_block(self) -> tuple[bytes, Cid]:
        """Canonical JSON bytes and their ``bafkrei…`` CID (≤ 256 KiB, one raw block)."""
        return document_block(self, self.document_name)

    @property
    def cid(self) -> Cid:
        return self.to_block()[1]

    @property
    def digest(self) -> bytes:
        """The 32 bytes the contract records for this document."""
        return self.cid.digest

    def publish(self, store: ContentStore) -> Cid:
        """Store the canonical bytes (pinned); the returned CID's digest goes on-chain."""
        return publish_document(store, self, self.document_name)

    @classmethod
    def fetch(cls, store: ContentStore, digest: bytes) -> Self:
        """The document the chain references by ``digest``, fetched and verified."""
        return fetch_document(store, cls, digest, cls.document_name)

    @classmethod
    def parse(cls, data: object, source: str | None = None) -> Self:
        return parse_document(cls, data, source or cls.document_name)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        return read_document_file(cls, path)


def check_relative_path(value: str) -> str:
    """A relative path that stays inside its folder, under the rule book :mod:`jobmarket.names`
    (components of at most 255 bytes, no control characters, at most 1024 bytes in all)."""
    return check_path(value)


def check_cid(value: str) -> str:
    """A CID we can fetch and verify (Qm… or b…), returned in its canonical text form."""
    try:
        return str(Cid.parse(value))
    except InvalidInput as err:
        raise ValueError(err.problem) from None


RelativePath = Annotated[str, AfterValidator(check_relative_path)]
CidText = Annotated[str, AfterValidator(check_cid)]
