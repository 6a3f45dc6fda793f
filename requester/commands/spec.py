"""``requester spec …``: check documents before they are paid for, and print their schemas."""

from __future__ import annotations

from pathlib import Path

import click

from jobmarket.cli import error_line, say
from jobmarket.spec.capabilities import ProviderCapabilities
from jobmarket.spec.job import JobSpec
from jobmarket.spec.result import ResultManifest
from jobmarket.spec.schema_files import DOCUMENTS, schema_text
from jobmarket.spec.validation import DocumentInvalid

_READERS = {
    "job-spec": JobSpec.from_file,
    "provider-capabilities": ProviderCapabilities.from_file,
    "result-manifest": ResultManifest.from_file,
}


@click.group("spec")
def spec_group() -> None:
    """Validate job specs and other protocol documents; print their JSON Schemas."""


@spec_group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(sorted(_READERS)),
    default="job-spec",
    show_default=True,
    help="Which document FILE holds.",
)
def validate(file: Path, kind: str) -> None:
    """Check FILE; print its CID (the spec's on-chain identity) or one line per problem."""
    try:
        document = _READERS[kind](file)
    except DocumentInvalid as err:
        for line in err.lines:
            error_line(f"{file}: {line}")
        raise click.exceptions.Exit(err.exit_code) from None
    if isinstance(document, JobSpec | ProviderCapabilities):
        say(f"ok {document.cid}")
        if isinstance(document, JobSpec) and not document.image_is_pinned:
            say(
                f"warning: image {document.image} is not pinned by digest; "
                "its content can change between runs: pin a registry digest a provider "
                "lists (`requester providers`); a locally built image has none and is "
                "run by its tag",
                err=True,
            )
    else:
        say("ok")


@spec_group.command("schema")
@click.argument("name", type=click.Choice(sorted(DOCUMENTS)), default="job-spec")
def schema(name: str) -> None:
    """Print the JSON Schema of a document (default: the job spec)."""
    click.echo(schema_text(name), nl=False)  # our own schema text


COMMANDS = [spec_group]
