"""Command line: the click group, one module per command, loaded lazily from one table.

Each module named in `COMMANDS` defines `command` (a click command or group). Nothing of a
command is imported until it runs, so `buildorch plan` stays fast. Errors are printed here,
once: a `BuildorchError` is one line on stderr and exit 1; ^C is exit 130.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from buildorch.errors import EXIT_ERROR, EXIT_INTERRUPTED, BuildorchError, ConfigError

if TYPE_CHECKING:
    from buildorch.config import Config

# command name -> module under buildorch.cli (each defines `command`)
COMMANDS: dict[str, str] = {
    "plan": "plan",
    "build": "build",
    "service": "service",
    "smoke": "smoke",
    "status": "status",
    "inputs": "inputs",
    "graph": "graph",
    "validate": "validate",
    "lint": "lint",
    "stats": "stats",
    "disk": "disk",
    "clean": "clean",
    "cache": "cache",
    "hook": "hook",
    "ci": "ci",
    "export": "export",
    "init": "init",
    "doctor": "doctor",
}


def out(text: str = "") -> None:
    click.echo(text)


def note(text: str) -> None:
    click.echo(f"note: {text}", err=True)


def config_path(ctx: click.Context) -> Path | None:
    path: Path | None = ctx.find_root().obj
    return path


def config_of(ctx: click.Context) -> Config:
    from buildorch.planning import baseline

    return baseline.open_config(config_path(ctx))


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = importlib.import_module(f"buildorch.cli.{module}").command
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              envvar="BUILDORCH_CONFIG", help="services.toml to use (default: found upwards).")
@click.version_option(package_name="buildorch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Know which Docker images are stale and why, then build exactly those."""
    ctx.obj = config_path


def main() -> None:
    try:
        rc = cli.main(standalone_mode=False, prog_name="buildorch")
        # standalone_mode=False returns the code of a click Exit instead of raising it.
        sys.exit(rc if isinstance(rc, int) else 0)
    except ConfigError as exc:
        for p in exc.problems:
            click.echo(f"buildorch: error: {p}", err=True)
        sys.exit(EXIT_ERROR)
    except BuildorchError as exc:
        click.echo(f"buildorch: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("buildorch: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
