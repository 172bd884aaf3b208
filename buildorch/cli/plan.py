"""`buildorch plan`: what would build and why; no engine needed."""

from __future__ import annotations

import json

import click

from buildorch.cli import check_selection, config_of, note, out
from buildorch.planning import baseline as project


@click.command("plan")
@click.argument("images", nargs=-1)
@click.option("--since", metavar="REF", help="Compare with the tree at REF, not the manifest.")
@click.option("--all", "force_all", is_flag=True, help="Plan every image.")
@click.option("--json", "as_json", is_flag=True, help="Print {stale, fresh} as JSON.")
@click.pass_context
def command(ctx: click.Context, images: tuple[str, ...], since: str | None, force_all: bool,
         as_json: bool) -> None:
    """What would build and why, in build order. Needs no Docker engine."""
    check_selection(images, force_all, since)
    cfg = config_of(ctx)
    result = project.plan(cfg, since=since, selected=images, force_all=force_all)
    for n in result.notes:
        note(n)
    if as_json:
        data = result.plan.to_json()
        for entry in data["stale"]:   # type: ignore[attr-defined]
            if cfg.images[entry["name"]].tags:   # images with their own references
                entry["tags"] = list(cfg.refs(entry["name"]))
        out(json.dumps(data, indent=2))
        return
    p = result.plan
    if not p.stale:
        out(f"nothing to build: {len(p.fresh)} image(s) up to date with {p.baseline}")
        return
    out(f"{len(p.stale)} of {len(p.stale) + len(p.fresh)} image(s) stale "
         f"(compared with {p.baseline}), in build order:")
    width = max(len(s.name) for s in p.stale)
    twidth = max(len(s.tier) for s in p.stale)
    for s in p.stale:
        first, *rest = s.reasons
        out(f"  {s.name:<{width}}  {s.tier:<{twidth}}  {first}")
        for r in rest:
            out(f"  {'':<{width}}  {'':<{twidth}}  {r}")
        if cfg.images[s.name].tags:
            out(f"  {'':<{width}}  {'':<{twidth}}  tags {', '.join(cfg.images[s.name].tags)}")
