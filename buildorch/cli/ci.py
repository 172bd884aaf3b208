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
    """The stale images as a GitHub Actions matrix (also to $GITHUB_OUTPUT as `matrix`)."""
    from buildorch.ops import ci

    path: Path | None = ctx.find_root().obj
    cfg = project.open_config(path)
    result = project.plan(cfg, since=since)
    for n in result.notes:
        click.echo(f"note: {n}", err=True)
    text = ci.matrix_json(ci.matrix(cfg, result.plan, by_tier=by_tier))
    click.echo(text)
    written = ci.write_output("matrix", text)
    if written:
        click.echo(f"note: wrote matrix to {written}", err=True)
