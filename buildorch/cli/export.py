"""`buildorch export bake`: the graph for other tools."""

from __future__ import annotations

import json
from pathlib import Path

import click

from buildorch.cli import config_of, out
from buildorch.planning import baseline as project


@click.group("export")
def command() -> None:
    """Write the graph for other tools."""


@command.command("bake")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("docker-bake.json"), show_default=True)
@click.option("--no-cache", "no_cache", is_flag=True, help="Leave out cache-from/cache-to.")
@click.pass_context
def export_bake(ctx: click.Context, output: Path, no_cache: bool) -> None:
    """A docker-bake.json with every image, parents wired with `contexts`."""
    from buildorch.edges.state import atomic_write
    from buildorch.ops.bake import bake_file

    cfg = config_of(ctx)
    snap = project.work_snapshot(cfg)
    from buildorch.planning.links import config_links

    links = config_links(cfg, {n: i.external_images for n, i in snap.inputs.items()})
    data = bake_file(cfg, snap.graph, cache=not no_cache, links=links)
    atomic_write(output, (json.dumps(data, indent=2) + "\n").encode())
    out(f"wrote {output} ({len(snap.graph.order())} targets)")
