"""`buildorch disk`: free space, the tiers' thresholds, and what the engine holds."""

from __future__ import annotations

import click

from buildorch.cli import config_of
from buildorch.edges.engine import Engine
from buildorch.errors import BuildorchError
from buildorch.ops import disk
from buildorch.units import format_size


@click.command("disk")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Free space where the engine keeps its data, each tier's min_free and cleanup policy,
    and what the engine holds."""
    try:
        cfg = config_of(ctx)
    except BuildorchError:
        cfg = None   # still useful outside a project: no thresholds then
    engine = Engine.connect()
    free, where = disk.free_bytes(engine)
    click.echo(f"free: {format_size(free)} in {where}")
    if cfg is not None:
        click.echo("tiers:")
        width = max((len(t) for t in cfg.tiers), default=0)
        for t in cfg.tiers.values():
            need = format_size(t.min_free) if t.min_free else "-"
            status = "" if not t.min_free else ("  ok" if free >= t.min_free else "  BELOW")
            click.echo(f"  {t.name:<{width}}  min_free {need:>9}  cleanup {t.cleanup:<12}"
                       f"{status}".rstrip())
    click.echo("engine holds:")
    for what, n, size, detail in disk.usage_rows(disk.engine_df(engine)):
        click.echo(f"  {what:<11} {n:>5}  {format_size(size):>9}  {detail}")
