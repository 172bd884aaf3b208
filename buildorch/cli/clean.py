"""`buildorch clean`: run one cleanup policy by hand."""

from __future__ import annotations

import click

from buildorch.edges.engine import Engine
from buildorch.ops import disk
from buildorch.units import format_size


@click.command("clean")
@click.option("--policy", type=click.Choice(disk.POLICIES), default="basic", show_default=True,
              help="basic: dangling images buildorch built (its label); standard: + build "
                   "cache beyond a keep size (engine-wide); conservative: + unused anonymous "
                   "volumes (engine-wide); emergency: basic within 60s. None removes "
                   "containers.")
@click.option("--dry-run", is_flag=True, help="Delete nothing; list what would go.")
@click.option("--label", metavar="KEY=VALUE",
              help="Only images and volumes with this label too (build cache is then left "
                   "alone).")
def command(policy: str, dry_run: bool, label: str | None) -> None:
    """Free disk space in the engine. Never removes tagged images, images in use or the
    protected pip-cache volume."""
    engine = Engine.connect()
    before, where = disk.free_bytes(engine)
    res = disk.clean(engine, policy, dry_run, label=label)
    click.echo(f"{policy}{' (dry run)' if dry_run else ''}: {res.summary()}")
    if not dry_run:
        after, _ = disk.free_bytes(engine)
        click.echo(f"free in {where}: {format_size(before)} -> {format_size(after)}")
