"""Command line: parse arguments, call the core, render the result. Errors are printed here."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from buildorch.errors import EXIT_ERROR, EXIT_INTERRUPTED, BuildorchError, ConfigError
from buildorch.planning import baseline as project

if TYPE_CHECKING:
    from buildorch.config import Config
    from buildorch.render import Renderer
    from buildorch.running.build import BuildOptions, BuildReport


def _out(text: str = "") -> None:
    click.echo(text)


def _note(text: str) -> None:
    click.echo(f"note: {text}", err=True)


class _LazyGroup(click.Group):
    """Built-in commands, plus those in buildorch/commands/, imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from buildorch import commands

        return sorted({*super().list_commands(ctx), *commands.names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None:
            from buildorch import commands

            found = commands.load(cmd_name)
        return found


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              envvar="BUILDORCH_CONFIG", help="services.toml to use (default: found upwards).")
@click.version_option(package_name="buildorch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Know which Docker images are stale and why, then build exactly those."""
    ctx.obj = config_path


def _config(ctx: click.Context) -> Config:
    path: Path | None = ctx.find_root().obj
    return project.open_config(path)


@cli.command()
@click.argument("images", nargs=-1)
@click.option("--since", metavar="REF", help="Compare with the tree at REF, not the manifest.")
@click.option("--all", "force_all", is_flag=True, help="Plan every image.")
@click.option("--json", "as_json", is_flag=True, help="Print {stale, fresh} as JSON.")
@click.pass_context
def plan(ctx: click.Context, images: tuple[str, ...], since: str | None, force_all: bool,
         as_json: bool) -> None:
    """What would build and why, in build order. Needs no Docker engine."""
    cfg = _config(ctx)
    result = project.plan(cfg, since=since, selected=images, force_all=force_all)
    for n in result.notes:
        _note(n)
    if as_json:
        _out(json.dumps(result.plan.to_json(), indent=2))
        return
    p = result.plan
    if not p.stale:
        _out(f"nothing to build: {len(p.fresh)} image(s) up to date with {p.baseline}")
        return
    _out(f"{len(p.stale)} of {len(p.stale) + len(p.fresh)} image(s) stale "
         f"(compared with {p.baseline}), in build order:")
    width = max(len(s.name) for s in p.stale)
    twidth = max(len(s.tier) for s in p.stale)
    for s in p.stale:
        first, *rest = s.reasons
        _out(f"  {s.name:<{width}}  {s.tier:<{twidth}}  {first}")
        for r in rest:
            _out(f"  {'':<{width}}  {'':<{twidth}}  {r}")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["tree", "dot", "json"]), default="tree",
              show_default=True)
@click.pass_context
def graph(ctx: click.Context, fmt: str) -> None:
    """The tier graph: parents inferred from FROM lines, plus depends_on."""
    snap = project.work_snapshot(_config(ctx))
    if fmt == "dot":
        _out(snap.graph.dot())
    elif fmt == "json":
        _out(json.dumps(snap.graph.to_json(), indent=2))
    else:
        for line in snap.graph.tree_lines():
            _out(line)


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def inputs(ctx: click.Context, name: str, as_json: bool) -> None:
    """The context files NAME's build reads (repository-relative, after .dockerignore)."""
    cfg = _config(ctx)
    snap = project.work_snapshot(cfg)
    if name not in snap.inputs:
        import difflib

        hint = difflib.get_close_matches(name, list(snap.inputs), n=1)
        raise BuildorchError(f"unknown image {name!r}"
                             + (f"; did you mean {hint[0]!r}?" if hint else ""))
    ins = snap.inputs[name]
    files = sorted(ins.files)
    if as_json:
        _out(json.dumps({"image": name, "files": files}, indent=2))
        return
    for n in ins.notes:
        _note(n)
    _out(f"{name}: {len(files)} file(s) from {cfg.images[name].context!r} "
         f"via {ins.dockerfile}")
    for f in files:
        _out(f"  {f}")


@cli.command()
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check services.toml and every Dockerfile; print every problem."""
    from buildorch.ops.validate import problems

    path: Path | None = ctx.find_root().obj
    found = problems(path)
    if found:
        for p in found:
            click.echo(p, err=True)
        raise click.exceptions.Exit(EXIT_ERROR)
    _out("services.toml is valid")


def _renderer(progress: str) -> tuple[Renderer, contextlib.AbstractContextManager[object]]:
    from buildorch.render import JsonLines, Plain

    if progress == "auto":
        progress = "rich" if sys.stdout.isatty() else "plain"
    if progress == "json":
        return JsonLines(), contextlib.nullcontext()
    if progress == "plain":
        return Plain(), contextlib.nullcontext()
    from buildorch.render.live import LiveTable

    table = LiveTable()
    return table, table


def _summary(report: BuildReport) -> None:
    rows = [r for r in report.images.values()
            if r.result in ("built", "reused", "failed", "cancelled")]
    for r in rows:
        rate = f"{100 * r.cached_steps / r.steps:.0f}%" if r.steps else "-"
        how = ("pulled: same inputs built elsewhere" if r.result == "reused"
               else f"cache hits {r.cached_steps}/{r.steps} ({rate})")
        click.echo(f"  {r.name:<24} {r.result:<9} {r.duration_s:6.1f}s  {how}")
    parts = [f"{report.count('built')} built", f"{report.count('reused')} reused",
             f"{report.count('up-to-date')} up to date",
             f"{report.count('failed')} failed", f"{report.count('skipped')} skipped"]
    if report.count("cancelled"):
        parts.append(f"{report.count('cancelled')} cancelled")
    click.echo(f"{', '.join(parts)} in {report.wall_s:.1f}s")
    if report.cleanup:
        click.echo(report.cleanup)


def _run_build(ctx: click.Context, opts: BuildOptions, progress: str) -> None:
    from buildorch.running.build import build

    cfg = _config(ctx)
    render, scope = _renderer(progress)
    with scope:
        report = build(cfg, opts, render)
    for n in report.notes:
        _note(n)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        from buildorch.ops.ci import write_step_summary

        write_step_summary(report)
    if progress != "json":
        if not report.plan.stale:
            click.echo(f"nothing to build: {len(report.plan.fresh)} image(s) up to date")
        else:
            _summary(report)
    if report.cancelled:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if not report.ok:
        raise click.exceptions.Exit(EXIT_ERROR)


_PROGRESS = click.Choice(["auto", "rich", "plain", "json"])


@cli.command()
@click.argument("images", nargs=-1)
@click.option("--all", "force_all", is_flag=True, help="Build every image.")
@click.option("--since", metavar="REF", help="Build what changed since REF (not the manifest).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Concurrent builds.")
@click.option("--push", is_flag=True, help="Push to the registry instead of loading.")
@click.option("--fail-fast", is_flag=True, help="Start nothing new after a failure.")
@click.option("--dry-run", is_flag=True, help="Show what would build; build nothing.")
@click.option("--cache-to", "cache_to", multiple=True,
              type=click.Choice(["local", "registry", "gha", "inline"]),
              help="Also export the cache there (repeatable).")
@click.option("--warm", is_flag=True, help="Pull the previous images first (cache warming).")
@click.option("--no-reuse", is_flag=True,
              help="Build even when the registry has an image of the same inputs.")
@click.option("--progress", type=_PROGRESS, default="auto", show_default=True)
@click.pass_context
def build(ctx: click.Context, images: tuple[str, ...], force_all: bool, since: str | None,
          jobs: int | None, push: bool, fail_fast: bool, dry_run: bool,
          cache_to: tuple[str, ...], warm: bool, no_reuse: bool, progress: str) -> None:
    """Build the stale images (or IMAGES and their stale ancestry), parents first."""
    from buildorch.running.build import BuildOptions

    _run_build(ctx, BuildOptions(names=images, force_all=force_all, since=since, jobs=jobs,
                                 push=push, fail_fast=fail_fast, dry_run=dry_run,
                                 cache_to=cache_to, warm=warm, no_reuse=no_reuse), progress)


@cli.command()
@click.argument("name")
@click.option("-j", "--jobs", type=click.IntRange(min=1))
@click.option("--progress", type=_PROGRESS, default="auto", show_default=True)
@click.pass_context
def service(ctx: click.Context, name: str, jobs: int | None, progress: str) -> None:
    """Build one service, rebuilding first whatever of its ancestry is stale."""
    from buildorch.running.build import BuildOptions

    _run_build(ctx, BuildOptions(names=(name,), jobs=jobs), progress)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Stale images and why, and images missing from the engine."""
    from buildorch.edges.engine import Engine

    cfg = _config(ctx)
    engine = Engine.connect()
    held = engine.images_of(cfg)
    missing = sorted(n for n in cfg.images if n not in held)
    result = project.plan(cfg, engine=held)
    for n in result.notes:
        _note(n)
    if as_json:
        _out(json.dumps({**result.plan.to_json(), "missing": missing}, indent=2))
        return
    p = result.plan
    _out(f"{len(p.fresh)} up to date, {len(p.stale)} stale, {len(missing)} missing from the "
         "engine")
    for s in p.stale:
        _out(f"  {s.name:<24} {'; '.join(s.reasons)}")


@cli.group()
def export() -> None:
    """Write the graph for other tools."""


@export.command("bake")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("docker-bake.json"), show_default=True)
@click.option("--no-cache", "no_cache", is_flag=True, help="Leave out cache-from/cache-to.")
@click.pass_context
def export_bake(ctx: click.Context, output: Path, no_cache: bool) -> None:
    """A docker-bake.json with every image, parents wired with `contexts`."""
    from buildorch.edges.state import atomic_write
    from buildorch.ops.bake import bake_file

    cfg = _config(ctx)
    snap = project.work_snapshot(cfg)
    data = bake_file(cfg, snap.graph, cache=not no_cache)
    atomic_write(output, (json.dumps(data, indent=2) + "\n").encode())
    _out(f"wrote {output} ({len(snap.graph.order())} targets)")


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
    except click.exceptions.Abort:
        click.echo("buildorch: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("buildorch: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
