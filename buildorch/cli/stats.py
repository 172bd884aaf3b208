"""`buildorch stats`: cache hit rates and build times from the build history."""

from __future__ import annotations

import json
from pathlib import Path

import click

from buildorch.cli import config_of
from buildorch.edges import state
from buildorch.errors import BuildorchError
from buildorch.ops import stats as stats_mod
from buildorch.render.tables import print_table


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.option("--runs", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many of the last runs the per-tier trend covers.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the statistics as one self-contained HTML page there.")
@click.pass_context
def command(ctx: click.Context, as_json: bool, runs: int, html_file: Path | None) -> None:
    """Per image and per tier: builds, median and last duration, step cache hit rate, how
    often it was up to date, cache sources and failed cache imports (from history.jsonl);
    each tier's build time over the last runs."""
    cfg = config_of(ctx)
    history = state.read_history(cfg.state_dir)
    st = stats_mod.compute(history, tier_order=cfg.tiers)
    tr = stats_mod.trend(history, tier_order=cfg.tiers, last=runs)
    if html_file is not None:
        try:
            state.atomic_write(html_file, _page(st, tr, cfg.state_dir / state.HISTORY)
                               .encode())
        except OSError as exc:
            raise BuildorchError(f"could not write {html_file} ({exc.strerror or exc}): "
                                 "choose a writable path") from exc
        click.echo(str(html_file))
        return
    if as_json:
        click.echo(json.dumps({**st.to_json(), "trend": tr.to_json()}, indent=2))
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
    if tr.tiers:
        click.echo()
        print_table("Build time per tier (first start to last end)", *stats_mod.trend_rows(tr))
    for w in stats_mod.warnings(st):
        click.echo(f"warning: {w}", err=True)


def _page(st: stats_mod.Stats, tr: stats_mod.Trend, where: Path) -> str:
    """The statistics as a page of render/html.py's parts (those of the timings page)."""
    import time

    from buildorch.render import html as h

    x_labels = {float(i): time.strftime("%m-%d %H:%M", time.localtime(t))
                for i, t in enumerate(tr.starts)}
    chart = h.line_chart(
        {tier: [(float(i), v) for i, v in enumerate(values) if v is not None]
         for tier, values in tr.tiers},
        x_max=float(max(len(tr.runs) - 1, 1)), y_label="seconds", x_labels=x_labels)
    sections = [h.section(f"Build time per tier, last {len(tr.runs)} runs that built "
                          "(first start to last end)", chart,
                          h.table(*stats_mod.trend_rows(tr)))]
    for title, kind, tiers in (("Build times per tier", "times", True),
                               ("Build times per image", "times", False),
                               ("Cache hit rates per tier", "hits", True),
                               ("Cache hit rates per image", "hits", False)):
        header, rows = stats_mod.table(kind, st.tiers if tiers else st.images, tiers=tiers)
        sections.append(h.section(title, h.table(header, rows)))
    return h.page("buildorch stats", f"from {where}", sections)
