"""`buildorch validate`: every problem in services.toml and the Dockerfiles."""

from __future__ import annotations

import click

from buildorch.cli import config_path, out
from buildorch.errors import EXIT_ERROR


@click.command("validate")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Check services.toml and every Dockerfile; print every problem.

    Exit 0: valid (notes, e.g. a glob that matches no file or a FROM linked under another
    registry, may be printed). Exit 1: a problem, including a Dockerfile that cannot build from
    this tree as it is (a COPY source not in the context: BuildKit fails with `not found`)."""
    from buildorch.ops.validate import check

    path, found, notes = check(config_path(ctx))
    for n in notes:
        click.echo(f"note: {n}", err=True)
    if found:
        for p in found:
            click.echo(p, err=True)
        raise click.exceptions.Exit(EXIT_ERROR)
    out(f"{path.name if path else 'services.toml'} is valid")
