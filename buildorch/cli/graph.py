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
    cfg = config_of(ctx)
    snap = project.work_snapshot(cfg)
    if fmt == "dot":
        out(snap.graph.dot())
    elif fmt == "json":
        data = snap.graph.to_json()
        for entry in data["images"]:   # type: ignore[attr-defined]
            if entry["name"] in cfg.images:
                entry["tags"] = list(cfg.refs(entry["name"]))
        out(json.dumps(data, indent=2))
    else:
        for line in snap.graph.tree_lines():
            out(line)
