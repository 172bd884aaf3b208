"""`buildorch hook …`: the git pre-push hook that builds what a push makes stale."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from buildorch.cli import config_of
from buildorch.config import Config
from buildorch.errors import EXIT_ERROR, BuildorchError


@click.group("hook")
def command() -> None:
    """Git pre-push hook: build what a push makes stale; a failed build blocks the push."""


def _config_arg(ctx: click.Context) -> str | None:
    """The services.toml to name in the hook, relative to the top level (where git runs
    hooks), or None when it is the one found from there anyway."""
    cfg = config_of(ctx)
    rel = cfg.path.relative_to(cfg.root).as_posix()
    return None if rel == "services.toml" else rel


@command.command("install")
@click.option("--force", is_flag=True, help="Replace a hook not written by buildorch "
              "(kept as pre-push.buildorch-backup).")
@click.pass_context
def install(ctx: click.Context, force: bool) -> None:
    """Write the pre-push hook (honours core.hooksPath)."""
    from buildorch.ops import hook

    click.echo(hook.install(Path.cwd(), force=force, config=_config_arg(ctx)))


@command.command("uninstall")
def uninstall() -> None:
    """Remove the pre-push hook; restore the one it replaced, if any."""
    from buildorch.ops import hook

    click.echo(hook.uninstall(Path.cwd()))


def _build_in(cfg: Config, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    from buildorch.cli.build import disk_guard
    from buildorch.render import Plain
    from buildorch.running.build import build
    from buildorch.running.options import BuildOptions

    try:
        # The hook planned against the manifest and the engine: build exactly those images.
        report = build(cfg, BuildOptions(names=names, force_all=True, no_deps=True),
                       Plain(sys.stderr, steps=False, names=cfg.images), disk=disk_guard)
    except BuildorchError as exc:
        return str(exc).splitlines()[0], ()
    for n in report.notes:
        click.echo(f"note: {n}", err=True)
    if report.cancelled:
        return "build interrupted", ()
    bad = [r for r in report.images.values() if r.result in ("failed", "interrupted")]
    if bad:
        first = bad[0]
        reason = first.reason.splitlines()[0] if first.reason else "build failed"
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return f"{first.name} failed: {reason}{more}", tuple(r.name for r in bad)
    if not report.ok:
        return "some images were not built", ()
    click.echo(f"buildorch: {report.count('built')} built, {report.count('reused')} reused "
               f"in {report.wall_s:.1f}s", err=True)
    return None


def _engine_images(cfg: Config) -> Mapping[str, str | None] | None:
    from buildorch.edges.engine import Engine

    try:
        return Engine.connect().images_of(cfg)
    except BuildorchError:   # the build that follows says what is wrong with the engine
        return None


@command.command("run-pre-push")
@click.argument("remote", required=False, default="")
@click.argument("url", required=False, default="")
@click.pass_context
def run_pre_push(ctx: click.Context, remote: str, url: str) -> None:
    """What the hook runs: reads git's ref lines on stdin and builds the pushed commits."""
    from buildorch.ops import hook

    cfg = config_of(ctx)
    lines = [] if sys.stdin.isatty() else sys.stdin.read().splitlines()
    if not any(line.strip() for line in lines):
        lines = hook.pre_commit_refs(dict(os.environ))
    rc = hook.run_pre_push(cfg, remote or url or "remote", lines,
                           lambda s: click.echo(s, err=True), _build_in,
                           _engine_images)
    if rc:
        raise click.exceptions.Exit(EXIT_ERROR)
