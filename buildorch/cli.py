"""Command line: parse arguments, call the core, render the result. Errors are printed here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from buildorch import project
from buildorch.errors import EXIT_ERROR, EXIT_INTERRUPTED, BuildorchError, ConfigError


def _out(text: str = "") -> None:
    click.echo(text)


def _note(text: str) -> None:
    click.echo(f"note: {text}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              envvar="BUILDORCH_CONFIG", help="services.toml to use (default: found upwards).")
@click.version_option(package_name="buildorch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Know which Docker images are stale and why, then build exactly those."""
    ctx.obj = config_path


def _config(ctx: click.Context) -> project.Config:
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
    from buildorch.validate import problems

    path: Path | None = ctx.find_root().obj
    found = problems(path)
    if found:
        for p in found:
            click.echo(p, err=True)
        raise click.exceptions.Exit(EXIT_ERROR)
    _out("services.toml is valid")


def main() -> None:
    try:
        cli.main(standalone_mode=False, prog_name="buildorch")
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
