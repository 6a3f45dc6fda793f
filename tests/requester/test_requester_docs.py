"""Docs that cannot drift (issue 13): every CLI's options, rendered from click, against the
README tables that document them.

A table is introduced by ``<!-- options: COMMAND -->``; its rows are ``| `--name VALUE` |
default | what |``. For every command of ``requester`` and for ``provider-node run`` and
``python -m jobmarket.devnet``, the table must name exactly the command's options, and show the
default click holds (``on``/``off`` for flags) wherever click holds one. The market verbs'
shared options (``--rpc-url``, ``--account``, ``--market``, ``--json``) are in one table,
``requester market verbs``.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest

REPO = Path(__file__).resolve().parents[2]
MARKET_VERBS = "requester market verbs"
MARKET_OPTIONS = {"--rpc-url", "--account", "--market", "--json"}
READMES = (REPO / "README.md", REPO / "requester" / "README.md")


def _entry_point(name: str) -> click.Command:
    return next(e for e in entry_points(group="console_scripts") if e.name == name).load()


def _devnet() -> click.Command:
    from jobmarket.devnet import command_line

    return command_line()


def commands() -> dict[str, click.Command]:
    """Every documented command by its name as typed."""
    found: dict[str, click.Command] = {}
    requester = _entry_point("requester")
    ctx = click.Context(requester)
    for name in requester.list_commands(ctx):  # type: ignore[attr-defined]
        command = requester.get_command(ctx, name)  # type: ignore[attr-defined]
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command)
            for sub in command.list_commands(sub_ctx):
                found[f"requester {name} {sub}"] = command.get_command(sub_ctx, sub)
        else:
            found[f"requester {name}"] = command
    node = _entry_point("provider-node")
    found["provider-node run"] = node.get_command(click.Context(node), "run")  # type: ignore[attr-defined]
    found["python -m jobmarket.devnet"] = _devnet()
    return found


def option_key(option: click.Option) -> str:
    longs = [o for o in option.opts if o.startswith("--")]
    return (longs or option.opts)[0]


def default_text(option: click.Option) -> str | None:
    """What the table must show as the default, or None when click holds none (the table
    then says it in words, e.g. "0 local, 2 elsewhere")."""
    if option.is_flag and option.secondary_opts and option.default is None:
        return None  # --x/--no-x decided by another option: said in words
    if option.is_flag:
        return "on" if option.default else "off"
    if option.default in (None, (), []):
        return None
    return str(option.default)


def rendered(command: click.Command) -> dict[str, str | None]:
    return {
        option_key(p): default_text(p)
        for p in command.params
        if isinstance(p, click.Option) and "--help" not in p.opts
    }


def documented() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    for readme in READMES:
        lines = readme.read_text().splitlines()
        for i, line in enumerate(lines):
            marker = re.fullmatch(r"<!-- options: (.+) -->", line.strip())
            if not marker:
                continue
            rows: dict[str, str] = {}
            table = lines[i + 1 :]
            while table and not table[0].startswith("|"):
                table = table[1:]  # a blank line between the marker and the table
            for row in table[2:]:  # past the header and its |---| line
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
                name = cells[0].strip("`").split()[0].split("/")[0]
                rows[name] = cells[1]
            tables[marker.group(1)] = rows
    return tables


COMMANDS = commands()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_documented_with_its_default(name):
    tables = documented()
    options = rendered(COMMANDS[name])
    if set(options) >= MARKET_OPTIONS:
        shared = {key: options.pop(key) for key in MARKET_OPTIONS}
        assert set(tables[MARKET_VERBS]) == MARKET_OPTIONS
        for key, default in shared.items():
            assert default is None or _same(tables[MARKET_VERBS][key], default), key
    if not options:
        assert name not in tables or tables[name] == {}
        return
    assert name in tables, f"no <!-- options: {name} --> table in the READMEs"
    table = tables[name]
    assert set(table) == set(options), f"{name}: documented {sorted(table)}, code {sorted(options)}"
    for key, default in options.items():
        if default is not None:
            assert _same(table[key], default), (
                f"{name} {key}: README says {table[key]!r}, code {default!r}"
            )


def _same(documented_default: str, code_default: str) -> bool:
    """Equal as text, or as numbers (``10`` documents ``10.0``)."""
    if documented_default == code_default:
        return True
    try:
        return float(documented_default) == float(code_default)
    except ValueError:
        return False


def test_a_wrong_default_in_a_table_would_be_caught():
    """The check itself: the run table's --max-jobs default is read, and it is click's."""
    run = documented()["provider-node run"]
    assert run["--max-jobs"] == rendered(COMMANDS["provider-node run"])["--max-jobs"]
    assert run["--poll-interval"] == "0.1 local, 1 elsewhere"
