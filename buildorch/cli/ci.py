"""`buildorch ci …`: hand the plan to a CI system."""

from __future__ import annotations

from pathlib import Path

import click

from buildorch.planning import baseline as project


@click.group("ci")
def command() -> None:
    """Hand-off to CI (GitHub Actions)."""


@command.command("matrix")
@click.option("--since", metavar="REF", help="Compare with the tree at REF, not the manifest.")
@click.option("--tier", "by_tier", is_flag=True, help='Group as {"tiers": [{tier, include}]}.')
@click.pass_context
def matrix(ctx: click.Context, since: str | None, by_tier: bool) -> None:
    """The stale images as a GitHub Actions matrix (also to $GITHUB_OUTPUT as `matrix`; with
    --tier also one `matrix-TIER` output per tier, each {"include": [...]})."""
    from buildorch.ops import ci

    path: Path | None = ctx.find_root().obj
    cfg = project.open_config(path)
    result = project.plan(cfg, since=since)
    for n in result.notes:
        click.echo(f"note: {n}", err=True)
    text = ci.matrix_json(ci.matrix(cfg, result.plan, by_tier=by_tier))
    click.echo(text)
    more = ci.tier_outputs(cfg, result.plan) if by_tier else []
    written = ci.write_output("matrix", text, *more)
    if written:
        click.echo(f"note: wrote matrix to {written}", err=True)


@command.command("workflow")
@click.option("-o", "--output", "output", metavar="PATH",
              help="Where to write it ('-' for stdout). Default: .github/workflows/docker.yml "
                   "at the repository root.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 with a diff when the file differs from what would be "
                   "generated.")
@click.option("--install", metavar="REQUIREMENT", default="",
              help="What CI pip-installs to get buildorch (default: buildorch==this version; "
                   "e.g. '.' when the repository is buildorch itself).")
@click.pass_context
def workflow(ctx: click.Context, output: str | None, check: bool, install: str) -> None:
    """A GitHub Actions workflow from the graph: a job per tier, in the seed's shape."""
    from importlib.metadata import version

    from buildorch.errors import BuildorchError
    from buildorch.ops import workflow as wf

    cfg = project.open_config(ctx.find_root().obj)
    if output in (None, "-"):
        target, rel = cfg.root / wf.DEFAULT_PATH, wf.DEFAULT_PATH
    else:
        target = Path(output).resolve()
        try:
            rel = target.relative_to(cfg.root).as_posix()
        except ValueError:
            raise BuildorchError(f"{output}: outside the repository {cfg.root}; write the "
                                 "workflow inside it (.github/workflows/…)") from None
    text = wf.render(cfg, wf.WorkflowOptions(path=rel, install=install), version("buildorch"))
    if check:
        current = target.read_text() if target.is_file() else ""
        if current == text:
            click.echo(f"{rel} is up to date")
            return
        click.echo(wf.diff(current, text, rel), nl=False)
        why = "differs from" if target.is_file() else "does not exist; it would be"
        regen = wf.regenerate_command(cfg, wf.WorkflowOptions(path=rel, install=install))
        raise BuildorchError(f"{rel} {why} what `{regen}` generates: run it and commit "
                             "the file")
    if output == "-":
        click.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(target)
    click.echo(f"wrote {rel}: {text.count(chr(10))} lines, jobs: plan, "
               + ", ".join(wf.job_id(t) for t in wf.tier_order(cfg)))
