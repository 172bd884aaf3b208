"""`buildorch stats`: cache hit rates and build times from the build history."""

from __future__ import annotations

import json

import click

from buildorch.cli import config_of
from buildorch.edges import state
from buildorch.ops import stats as stats_mod
from buildorch.render.tables import print_table


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Per image and per tier: builds, median and last duration, step cache hit rate, how
    often it was up to date, cache sources and failed cache imports (from history.jsonl)."""
    cfg = config_of(ctx)
    history = state.read_history(cfg.state_dir)
    st = stats_mod.compute(history, tier_order=cfg.tiers)
    if as_json:
        click.echo(json.dumps(st.to_json(), indent=2))
        return
    if not history:
        click.echo(f"no build history yet in {cfg.state_dir / state.HISTORY}: run buildorch build")
        return
    tables = [
        ("Cache hit rates (steps cached over built runs)", "hits", False),
        ("Cache hit rates per tier", "hits", True),
        ("Build times (over built runs)", "times", False),
        ("Build times per tier", "times", True),
    ]
    for i, (title, kind, tiers) in enumerate(tables):
        header, rows = stats_mod.table(kind, st.tiers if tiers else st.images, tiers=tiers)
        if i:
            click.echo()
        print_table(title, header, rows)
    for w in stats_mod.warnings(st):
        click.echo(f"warning: {w}", err=True)
