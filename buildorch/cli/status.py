"""`buildorch status`: stale images and why, and images missing from the engine."""

from __future__ import annotations

import json

import click

from buildorch.cli import config_of, note, out
from buildorch.planning import baseline as project


@click.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Stale images and why, and images missing from the engine."""
    from buildorch.edges.engine import Engine

    cfg = config_of(ctx)
    engine = Engine.connect()
    held = engine.images_of(cfg)
    missing = sorted(n for n in cfg.images if n not in held)
    result = project.plan(cfg, engine=held)
    for n in result.notes:
        note(n)
    if as_json:
        out(json.dumps({**result.plan.to_json(), "missing": missing}, indent=2))
        return
    p = result.plan
    out(f"{len(p.fresh)} up to date, {len(p.stale)} stale, {len(missing)} missing from the "
         "engine")
    for s in p.stale:
        out(f"  {s.name:<24} {'; '.join(s.reasons)}")
