"""Commands loaded on demand: `buildorch/commands/<name>.py` defines `command` (a click command
or group) and becomes `buildorch <name>` (underscores -> dashes). Nothing here is imported until
that command runs, so `buildorch plan` stays fast."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

_DIR = Path(__file__).parent


def names() -> list[str]:
    return sorted(p.stem.replace("_", "-") for p in _DIR.glob("*.py") if p.stem != "__init__")


def load(name: str) -> click.Command | None:
    if name not in names():
        return None
    module = importlib.import_module(f"buildorch.commands.{name.replace('-', '_')}")
    command = module.command
    assert isinstance(command, click.Command)
    return command
