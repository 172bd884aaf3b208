"""`buildorch watch`: rebuild what an edit makes stale, round after round, until ^C."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import click

from buildorch.cli import config_of, note
from buildorch.cli.build import PROGRESS, _outcome, _renderer, disk_guard
from buildorch.errors import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from buildorch.config import Config
    from buildorch.ops.watch import WatchEvent
    from buildorch.running.options import BuildOptions
    from buildorch.running.report import BuildReport

_SHOWN_PATHS = 3


def _plain(e: WatchEvent, first: list[bool]) -> str:
    from buildorch.ops import watch as w

    if isinstance(e, w.Watching):
        line = (f"watch: {e.files} file(s) in {e.folders} folder(s), read by "
                f"{len(e.images)} image(s)")
        if first[0]:
            first[0] = False
            line += f"; {e.policy}"
        return line
    if isinstance(e, w.RoundStarted):
        if not e.changed:
            return f"watch: round {e.round}: what is stale now"
        shown = ", ".join(e.changed[:_SHOWN_PATHS])
        more = f" and {len(e.changed) - _SHOWN_PATHS} more" if len(e.changed) > _SHOWN_PATHS \
            else ""
        return f"watch: round {e.round}: changed {shown}{more}"
    if isinstance(e, w.RoundFinished):
        head = f"watch: round {e.round}"
        if e.error:
            text = f"{head} failed: {e.error}"
        elif e.failed:
            text = f"{head} failed: {', '.join(e.failed)} not built"
        elif e.built:
            text = f"{head} built {', '.join(e.built)} in {e.duration_s:.1f}s"
        else:
            text = f"{head}: nothing to build"
        if e.failed and e.built:
            text += f" (built: {', '.join(e.built)})"
        if e.replanned:
            text += (f"; files changed during the round: {', '.join(e.replanned)} not started, "
                     "planned again next round")
        if e.restarted:
            text += f"; restarted {', '.join(e.restarted)}"
        tail = " — still watching; the next edit builds again" if not e.ok else ""
        return f"{text}{tail}\nwatch: watching for changes (^C to stop)"
    if isinstance(e, w.Notice):
        return f"watch: {e.message}"
    return f"watch: {e.KIND}"


@click.command("watch")
@click.argument("images", nargs=-1)
@click.option("--up", is_flag=True,
              help="After each good round, recreate the running compose services whose image "
                   "was rebuilt (docker compose up -d --no-deps --no-build).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Concurrent builds.")
@click.option("--no-smoke", is_flag=True, help="Skip the smoke checks of the images built.")
@click.option("--progress", type=PROGRESS, default="auto", show_default=True)
@click.pass_context
def command(ctx: click.Context, images: tuple[str, ...], up: bool, jobs: int | None,
            no_smoke: bool, progress: str) -> None:
    """Watch what IMAGES (default: every image) read; each edit builds what it made stale.

    Watched: the files `buildorch inputs` lists for the images and their parents, their
    Dockerfiles and .dockerignore files, and services.toml. A round is `buildorch build`:
    same plan, scheduler, caches, smoke checks and manifest. ^C stops it (exit 130).
    """
    from buildorch.edges.engine import Engine
    from buildorch.ops.watch import preflight, watch
    from buildorch.running.build import build
    from buildorch.running.options import BuildOptions

    cfg = config_of(ctx)
    opts = BuildOptions(names=images, jobs=jobs, smoke=not no_smoke)
    preflight(cfg, opts, cfg.compose if up else None)
    engine = Engine.connect()   # every round on the one engine the docker CLI resolves here
    shown_notes: set[str] = set()
    first = [True]

    def run_round(cfg: Config, opts: BuildOptions, drain: threading.Event) -> BuildReport:
        render, scope = _renderer(progress, cfg)
        with scope:
            report = build(cfg, opts, render, disk=disk_guard, engine=engine, drain=drain)
        for n in report.notes:
            if n not in shown_notes:   # said once, not every round
                shown_notes.add(n)
                note(n)
        if progress != "json":
            _outcome(report)
        return report

    def say(e: WatchEvent) -> None:
        if progress == "json":
            click.echo(json.dumps(e.to_json(), separators=(",", ":")))
        else:
            click.echo(_plain(e, first))

    code = watch(cfg, opts, run_round=run_round, say=say, up=cfg.compose if up else None)
    if code:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
