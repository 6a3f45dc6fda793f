"""Regenerate (or check) the bundled contract artifact from ape's compiler output.

    python -m jobmarket.chain.export           # compile contracts/ and write JobMarket.json
    python -m jobmarket.chain.export --check   # exit 1 if JobMarket.json is out of date

Run it from the repository root (the ape project) after changing ``contracts/JobMarket.vy``.
"""

import json
import sys
from pathlib import Path
from typing import Any

import click

from jobmarket.chain.artifact import ARTIFACT_PATH, bundle

CONTRACT_NAME = "JobMarket"


def compiled_bundle(project_root: Path) -> dict[str, Any]:
    """Compile the ape project at ``project_root`` (cached by ape) and bundle JobMarket."""
    from ape import Project

    project = Project(project_root)
    return bundle(project.get_contract(CONTRACT_NAME).contract_type)


def render(data: dict[str, Any]) -> str:
    """The artifact's exact file content: stable key order, so a diff shows real changes."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


@click.command()
@click.option("--check", is_flag=True, help="Only compare; exit 1 if the artifact is stale.")
@click.option(
    "--project",
    "project_root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path.cwd,
    show_default="current directory",
    help="The ape project holding contracts/JobMarket.vy.",
)
def main(check: bool, project_root: Path) -> None:
    """Write jobmarket/chain/JobMarket.json from a fresh compile of contracts/JobMarket.vy."""
    if not (project_root / "contracts" / f"{CONTRACT_NAME}.vy").is_file():
        click.echo(
            f"error: {project_root} has no contracts/{CONTRACT_NAME}.vy; "
            "run this from the repository root or pass --project",
            err=True,
        )
        sys.exit(2)
    content = render(compiled_bundle(project_root))
    current = ARTIFACT_PATH.read_text(encoding="utf-8") if ARTIFACT_PATH.is_file() else None
    if check:
        if content != current:
            click.echo(
                f"error: {ARTIFACT_PATH} is out of date; run `python -m jobmarket.chain.export`",
                err=True,
            )
            sys.exit(1)
        click.echo(f"{ARTIFACT_PATH} is up to date")
        return
    if content == current:
        click.echo(f"{ARTIFACT_PATH} is already up to date")
        return
    temporary = ARTIFACT_PATH.with_suffix(".json.tmp")
    temporary.write_text(content, encoding="utf-8")
    temporary.replace(ARTIFACT_PATH)
    click.echo(f"wrote {ARTIFACT_PATH}")


if __name__ == "__main__":
    main()
