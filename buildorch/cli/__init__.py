"""Command line: the click group, one module per command, loaded lazily from one table.

Each module named in `COMMANDS` defines `command` (a click command or group). Nothing of a
command is imported until it runs, so `buildorch plan` stays fast. Errors are printed here,
once: a `BuildorchError` is one line on stderr and exit 1; ^C or SIGTERM is exit 130, at any
moment (start-up and shut-down included), never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def _exit_interrupted(signum: int, frame: object) -> None:
    """Start-up and shut-down: nothing to stop or record yet (or any more): leave at once."""
    with contextlib.suppress(OSError):
        os.write(2, b"buildorch: interrupted\n")
    os._exit(130)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# As early as this module runs (it is what the `buildorch` script and `python -m buildorch`
# import): a ^C or SIGTERM while Python imports click and the rest exits 130, no traceback.
_argv0 = sys.argv[0] if sys.argv else ""
if os.path.basename(_argv0) == "buildorch" or _argv0.endswith(os.path.join("buildorch",
                                                                           "__main__.py")):
    for _sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_sig, _exit_interrupted)
    if {"plan", "build"}.intersection(sys.argv[1:3]):
        # git status is most of a no-change plan: it runs while Python imports the rest
        from buildorch.edges.prestart import start_early
        start_early(os.getcwd())

import importlib  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import click  # noqa: E402

from buildorch import __version__  # noqa: E402
from buildorch.errors import (  # noqa: E402
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    BuildorchError,
    ConfigError,
)

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
    "timings": "timings",
    "disk": "disk",
    "clean": "clean",
    "cache": "cache",
    "hook": "hook",
    "ci": "ci",
    "export": "export",
    "init": "init",
    "doctor": "doctor",
    "schema": "schema",
    "watch": "watch",
}


def out(text: str = "") -> None:
    click.echo(text)


def note(text: str) -> None:
    click.echo(f"note: {text}", err=True)


def check_selection(images: tuple[str, ...], force_all: bool, since: str | None,
                    no_deps: bool = False) -> None:
    """Refuse the combinations of `plan`/`build` that would silently drop one of the two
    (a usage error, exit 2), before anything is read."""
    if force_all and images:
        raise click.UsageError("--all means every image: name IMAGES or pass --all, not both")
    if force_all and since:
        raise click.UsageError("--all takes every image whatever changed since REF: pass "
                               "--all or --since REF, not both")
    if no_deps and not images:
        raise click.UsageError("--no-deps builds exactly the IMAGES named: name them")


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
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              envvar="BUILDORCH_CONFIG", help="services.toml to use (default: found upwards).")
@click.option("--context", "docker_context", metavar="NAME",
              help="Docker context to use, as `docker --context NAME` (default: DOCKER_HOST, "
                   "DOCKER_CONTEXT, else the current context).")
@click.version_option(version=__version__, prog_name="buildorch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, docker_context: str | None) -> None:
    """Know which Docker images are stale and why, then build exactly those."""
    ctx.obj = config_path
    if docker_context:
        from buildorch.edges import endpoint

        endpoint.choose(docker_context)
        endpoint.current()   # an unknown context is one error now, whatever the command


def _error(text: str) -> None:
    for line in text.splitlines() or [""]:
        click.echo(f"buildorch: error: {line}", err=True)


def run(args: Sequence[str] | None = None) -> int:
    """Run the command line (`sys.argv[1:]` by default) and return its exit code: every error
    is printed here as one line. Signals are `main`'s business, so tests call this in-process."""
    code = EXIT_ERROR
    try:
        rc = cli.main(args, standalone_mode=False, prog_name="buildorch")
        # standalone_mode=False returns the code of a click Exit instead of raising it.
        code = rc if isinstance(rc, int) else 0
    except ConfigError as exc:
        for p in exc.problems:
            _error(p)
    except BuildorchError as exc:
        _error(str(exc))
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("buildorch: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except OSError as exc:
        # A file or folder that is not what it should be (permissions, a file where a folder
        # belongs, a full disk): say which, once.
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}: check that path (its type and permissions) "
               "and run the command again")
    except UnicodeDecodeError as exc:
        _error(f"a file is not valid UTF-8 ({exc.reason} at byte {exc.start}): save it as "
               "UTF-8 and run the command again")
    except Exception as exc:  # a bug: still one line, with what the user can do
        _error(f"internal error: {exc.__class__.__name__}: {exc} (a bug in buildorch; set "
               "BUILDORCH_DEBUG=1 for the traceback and report it)")
        if os.environ.get("BUILDORCH_DEBUG"):
            raise
    return code


def main() -> None:
    # While a command runs, ^C and SIGTERM are KeyboardInterrupt (a build turns them into
    # "cancel" itself); outside of it, they end the process at once with 130.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    code = run()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_interrupted)
    if code == EXIT_INTERRUPTED:
        # Interrupted: nothing is left to do, and the interpreter's own shutdown would turn a
        # KeyboardInterrupt it once saw into death by SIGINT (-2) instead of 130.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    # The work is done: a signal now would only turn this exit into death by that signal
    # while the interpreter shuts down (it restores the default handlers). Hold them off.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.stdout.flush()
    sys.exit(code)
