"""`buildorch service NAME`: one service plus whatever of its ancestry is stale."""

from __future__ import annotations

import click

from buildorch.cli.build import PROGRESS, run_build, seeing


@click.command("service")
@click.argument("name")
@click.option("-j", "--jobs", type=click.IntRange(min=1))
@click.option("--progress", type=PROGRESS, default="auto", show_default=True)
@seeing
@click.pass_context
def command(ctx: click.Context, name: str, jobs: int | None, progress: str,
            timings: str | None, trace: str | None) -> None:
    """Build one service, rebuilding first whatever of its ancestry is stale."""
    from buildorch.running.options import BuildOptions

    run_build(ctx, BuildOptions(names=(name,), jobs=jobs), progress, timings=timings,
              trace=trace)
