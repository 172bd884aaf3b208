"""`buildorch build`: the stale images, built in dependency order, in parallel."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from buildorch.cli import check_selection, config_of, note
from buildorch.config_keys import CACHE_SINKS, PROGRESS_MODES
from buildorch.errors import EXIT_ERROR, EXIT_INTERRUPTED

if TYPE_CHECKING:
    from buildorch.config import Config
    from buildorch.edges.engine import Engine
    from buildorch.ops.disk import DiskGuard
    from buildorch.render import Renderer
    from buildorch.running.events import Event
    from buildorch.running.options import BuildOptions
    from buildorch.running.report import BuildReport



def disk_guard(engine: Engine) -> DiskGuard:
    """The disk guard every build command runs with; `ops/disk.py` is imported only when
    something builds (a no-change run never calls this)."""
    from buildorch.ops.disk import DiskGuard

    return DiskGuard(engine)


def _renderer(progress: str, cfg: Config
              ) -> tuple[Renderer, contextlib.AbstractContextManager[object]]:
    from buildorch.render import JsonLines, Plain

    if progress == "auto":
        progress = "rich" if sys.stdout.isatty() else "plain"
    if progress == "json":
        return JsonLines(), contextlib.nullcontext()
    if progress == "plain":
        return Plain(names=cfg.images), contextlib.nullcontext()
    from buildorch.render.live import LiveTable

    table = LiveTable(tiers={n: i.tier for n, i in cfg.images.items()})
    return table, table


def _outcome(report: BuildReport) -> None:
    """A run's closing lines for a reader: nothing to build, or the summary."""
    if not report.plan.stale:
        click.echo(f"nothing to build: {len(report.plan.fresh)} image(s) up to date")
    else:
        _summary(report)


def _summary(report: BuildReport) -> None:
    rows = [r for r in report.images.values()
            if r.result in ("built", "reused", "failed", "interrupted", "cancelled")]
    width = max([len(r.name) for r in rows], default=0)
    for r in rows:
        rate = f"{100 * r.cached_steps / r.steps:.0f}%" if r.steps else "-"
        how = ("pulled: same inputs built elsewhere" if r.result == "reused"
               else f"cache hits {r.cached_steps}/{r.steps} ({rate})")
        if r.result == "failed" and r.reason:
            how += f": {r.reason}"
        click.echo(f"  {r.name:<{width}}  {r.result:<9} {r.duration_s:6.1f}s  {how}")
    parts = [f"{report.count('built')} built", f"{report.count('reused')} reused",
             f"{report.count('up-to-date')} up to date",
             f"{report.count('failed')} failed", f"{report.count('skipped')} skipped"]
    for extra in ("interrupted", "cancelled"):
        if report.count(extra):
            parts.append(f"{report.count(extra)} {extra}")
    click.echo(f"{', '.join(parts)} in {report.wall_s:.1f}s")
    for host, names in sorted(report.without_registry.items()):
        click.echo(f"{len(names)} image(s) ran without the registry cache of {host} "
                   f"(`docker login {host}`, or [cache] from/to = [\"local\"])")
    if report.retries:
        click.echo(f"{report.retries} retr{'y' if report.retries == 1 else 'ies'} after a "
                   "transient fault (see the `retrying` lines)")
    if report.cleanup:
        click.echo(report.cleanup)


def run_build(ctx: click.Context, opts: BuildOptions, progress: str, *,
              timings: str | None = None, trace: str | None = None) -> None:
    """`timings`: write the run's timings page (a path; "": the default one); `trace`: write
    its Chrome trace there."""
    from buildorch.running.build import build

    cfg = config_of(ctx)
    render, scope = _renderer(progress, cfg)
    events: list[Event] = []
    if timings is not None or trace:
        shown = render

        def render(e: Event) -> None:
            events.append(e)   # list.append is atomic: worker threads emit too
            shown(e)

    with scope:
        report = build(cfg, opts, render, disk=disk_guard)
    if timings is not None or trace:
        from buildorch.cli.timings import write

        for path in write(cfg.state_dir, events, report.run_id, timings=timings, trace=trace):
            note(f"timings: {path}" if path.suffix == ".html" else f"trace: {path}")
    for n in report.notes:
        note(n)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        from buildorch.ops.ci import write_step_summary

        write_step_summary(report)
    if progress != "json":
        _outcome(report)
    elif report.engine_gone:
        click.echo(f"buildorch: error: {report.engine_gone}", err=True)
    elif report.failures and not report.cancelled:
        # The stream (stdout) has the details; the error is said on stderr too, once.
        failed = sorted({f.image for f in report.failures})
        click.echo(f"buildorch: error: {len(failed)} image(s) not built: {', '.join(failed)}; "
                   f"see their `failed` events and {cfg.state_dir / 'logs'}", err=True)
    if report.cancelled:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if not report.ok:
        raise click.exceptions.Exit(EXIT_ERROR)


PROGRESS = click.Choice(PROGRESS_MODES)
F = TypeVar("F", bound=Callable[..., Any])


def seeing(f: F) -> F:
    """`--timings [FILE]` and `--trace FILE`, for every command that builds."""
    f = click.option("--trace", "trace", metavar="FILE",
                     help="Write the run as a Chrome trace (Perfetto, chrome://tracing).")(f)
    return click.option(
        "--timings", "timings", is_flag=False, flag_value="", default=None, metavar="[FILE]",
        help="Write the run's timeline as one HTML page (default: "
             ".buildorch/timings/<run id>.html, the last 20 kept; `buildorch timings` prints "
             "its path). Write it `--timings=FILE`.")(f)


@click.command("build")
@click.argument("images", nargs=-1)
@click.option("--all", "force_all", is_flag=True, help="Build every image.")
@click.option("--since", metavar="REF", help="Build what changed since REF (not the manifest).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Concurrent builds.")
@click.option("--push", is_flag=True, help="Push to the registry instead of loading.")
@click.option("--fail-fast", is_flag=True, help="Start nothing new after a failure.")
@click.option("--dry-run", is_flag=True, help="Show what would build; build nothing.")
@click.option("--cache-to", "cache_to", multiple=True,
              type=click.Choice(CACHE_SINKS),
              help="Export the cache there instead of [cache] to (repeatable); an error if the "
                   "builder cannot.")
@click.option("--warm", is_flag=True, help="Pull the previous images first (cache warming).")
@click.option("--no-reuse", is_flag=True,
              help="Build even when the registry has an image of the same inputs.")
@click.option("--no-smoke", is_flag=True, help="Skip the smoke checks of the images built.")
@click.option("--no-deps", is_flag=True,
              help="Build exactly IMAGES; their parents are used as they are (CI builds a "
                   "tier at a time).")
@click.option("--progress", type=PROGRESS, default="auto", show_default=True)
@seeing
@click.pass_context
def command(ctx: click.Context, images: tuple[str, ...], force_all: bool, since: str | None,
          jobs: int | None, push: bool, fail_fast: bool, dry_run: bool,
          cache_to: tuple[str, ...], warm: bool, no_reuse: bool, no_smoke: bool,
          no_deps: bool, progress: str, timings: str | None, trace: str | None) -> None:
    """Build the stale images (or IMAGES and their stale ancestry), parents first."""
    from buildorch.running.options import BuildOptions

    check_selection(images, force_all, since, no_deps)
    run_build(ctx, BuildOptions(names=images, force_all=force_all, since=since, jobs=jobs,
                                 push=push, fail_fast=fail_fast, dry_run=dry_run,
                                 cache_to=cache_to, warm=warm, no_reuse=no_reuse,
                                 smoke=not no_smoke, no_deps=no_deps), progress,
              timings=timings, trace=trace)
