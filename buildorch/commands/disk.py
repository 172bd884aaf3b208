"""`buildorch disk`: free space, the tiers' thresholds, and what the engine holds."""

from __future__ import annotations

from typing import Any

import click

from buildorch.edges.engine import Engine
from buildorch.errors import BuildorchError
from buildorch.ops import disk
from buildorch.planning import baseline as project


def _sizes(df: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """(what, count, size, detail) from the engine's disk usage report."""
    images = df.get("Images") or []
    cache = df.get("BuildCache") or []
    vols = df.get("Volumes") or []
    cons = df.get("Containers") or []
    dangling = [i for i in images if not [t for t in (i.get("RepoTags") or [])
                                          if t != "<none>:<none>"]]
    idle = sum(int(c.get("Size") or 0) for c in cache if not c.get("InUse"))
    vsize = sum(max(0, int((v.get("UsageData") or {}).get("Size") or 0)) for v in vols)
    protected = [v["Name"] for v in vols if disk._protected(v)]
    return [
        ("images", len(images), int(df.get("LayersSize") or 0), f"{len(dangling)} dangling"),
        ("build cache", len(cache), sum(int(c.get("Size") or 0) for c in cache),
         f"{disk.human(idle)} not in use"),
        ("volumes", len(vols), vsize,
         f"protected: {', '.join(protected)}" if protected else "none protected"),
        ("containers", len(cons), sum(int(c.get("SizeRw") or 0) for c in cons),
         f"{sum(1 for c in cons if c.get('State') != 'running')} stopped"),
    ]


@click.command("disk")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Free space where the engine keeps its data, each tier's min_free and cleanup policy,
    and what the engine holds."""
    try:
        cfg = project.open_config(ctx.find_root().obj)
    except BuildorchError:
        cfg = None   # still useful outside a project: no thresholds then
    engine = Engine.connect()
    free, where = disk.free_bytes(engine)
    click.echo(f"free: {disk.human(free)} in {where}")
    if cfg is not None:
        click.echo("tiers:")
        width = max((len(t) for t in cfg.tiers), default=0)
        for t in cfg.tiers.values():
            need = disk.human(t.min_free) if t.min_free else "-"
            status = "" if not t.min_free else ("  ok" if free >= t.min_free else "  BELOW")
            click.echo(f"  {t.name:<{width}}  min_free {need:>9}  cleanup {t.cleanup:<12}"
                       f"{status}".rstrip())
    click.echo("engine holds:")
    for what, n, size, detail in _sizes(disk.engine_df(engine)):
        click.echo(f"  {what:<11} {n:>5}  {disk.human(size):>9}  {detail}")
