"""`buildorch doctor`: is everything a build needs there, and what would a build do here."""

from __future__ import annotations

import json

import click

from buildorch.cli import config_of, out
from buildorch.errors import EXIT_ERROR, BuildorchError


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """The engine, buildx, each tier's builder, the registry, free disk, and the caches a
    build would use and why. Exit 1, saying what to do, when something needed is missing."""
    from buildorch.ops.doctor import diagnose, lines

    try:
        cfg = config_of(ctx)
    except BuildorchError as exc:
        cfg = None   # still useful outside a project: engine, buildx, current builder
        config_problem = str(exc)
    else:
        config_problem = ""
    report = diagnose(cfg)
    if config_problem:
        report["problems"].insert(0, config_problem)
    if as_json:
        out(json.dumps(report, indent=2))
    else:
        for line in lines(report):
            out(line)
    if report["problems"]:
        raise click.exceptions.Exit(EXIT_ERROR)
