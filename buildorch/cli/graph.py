"""`buildorch graph`: the tier graph as a tree, dot, Mermaid or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from buildorch.cli import config_of, out
from buildorch.errors import BuildorchError
from buildorch.planning import baseline as project

if TYPE_CHECKING:
    from buildorch.config import Config


@click.command("graph")
@click.option("--format", "fmt", type=click.Choice(["tree", "dot", "mermaid", "json"]),
              default="tree", show_default=True)
@click.option("--stale", is_flag=True,
              help="Colour what `buildorch plan` would build (with --format mermaid).")
@click.pass_context
def command(ctx: click.Context, fmt: str, stale: bool) -> None:
    """The tier graph: parents inferred from FROM lines, plus depends_on. `--format mermaid`
    is drawn by GitHub and GitLab in a ```mermaid block."""
    cfg = config_of(ctx)
    if stale and fmt != "mermaid":
        raise BuildorchError("--stale colours the Mermaid graph: add --format mermaid")
    if fmt == "mermaid":
        _mermaid(cfg, stale)
        return
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


def _mermaid(cfg: Config, stale: bool) -> None:
    from buildorch.render.mermaid import flowchart

    if stale:
        result = project.plan(cfg)
        snap, built = result.snapshot, set(result.plan.names)
    else:
        snap, built = project.work_snapshot(cfg), None
    g = snap.graph
    order = g.order()
    out(flowchart(order, {n: g.tier(n) for n in order}, {n: g.parents(n) for n in order},
                  {n: cfg.images[n].depends_on for n in order if n in cfg.images},
                  built).rstrip("\n"))
