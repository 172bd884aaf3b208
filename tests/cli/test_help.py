"""`--help` and `--version` of every command the group lists."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version

import click
import pytest

from buildorch.cli import COMMANDS, cli
from tests.cli.conftest import Result


def _paths() -> list[tuple[str, ...]]:
    """Every command and subcommand, as the argv that reaches it."""
    ctx = click.Context(cli)
    found: list[tuple[str, ...]] = []
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        assert cmd is not None, name
        found.append((name,))
        if isinstance(cmd, click.Group):
            found += [(name, sub) for sub in cmd.list_commands(ctx)]
    return found


def test_the_group_lists_every_command_of_the_table(bo_in_process: Callable[..., Result]) -> None:
    r = bo_in_process("--help")
    assert r.code == 0 and r.err == ""
    rows = dict(line.split(None, 1) for line in r.out.split("Commands:\n", 1)[1].splitlines())
    assert sorted(rows) == sorted(COMMANDS)
    # each with the start of its own help: every listed command loads and says what it does
    ctx = click.Context(cli)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        assert cmd is not None and cmd.help, name
        assert rows[name].split()[:2] == cmd.help.split()[:2], (name, rows[name])


@pytest.mark.parametrize("path", _paths(), ids=" ".join)
def test_help_of_every_command(path: tuple[str, ...],
                               bo_in_process: Callable[..., Result]) -> None:
    r = bo_in_process(*path, "--help")
    assert r.code == 0, r.err
    assert r.err == ""
    assert r.out.startswith(f"Usage: buildorch {' '.join(path)} ")
    assert "-h, --help" in r.out
    short = bo_in_process(*path, "-h")
    assert short.out == r.out


def test_version_is_the_package_version(bo_in_process: Callable[..., Result]) -> None:
    r = bo_in_process("--version")
    assert r.code == 0 and r.out.strip().endswith(version("buildorch"))
