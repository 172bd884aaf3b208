"""`buildorch graph`: the tier graph as a tree, dot or JSON."""

from __future__ import annotations

import json

import click

from buildorch.cli import config_of, out
from buildorch.planning import baseline as project


@click.command("graph")
@click.option("--format", "fmt", type=click.Choice(["tree", "dot", "json"]), default="tree",
              show_default=True)
@click.pass_context
def command(ctx: click.Context, fmt: str) -> None:
    """The tier graph: parents inferred from FROM lines, plus depends_on."""
    snap = project.work_snapshot(config_of(ctx))
    if fmt == "dot":
        out(snap.graph.dot())
    elif fmt == "json":
        out(json.dumps(snap.graph.to_json(), indent=2))
    else:
        for line in snap.graph.tree_lines():
            out(line)
