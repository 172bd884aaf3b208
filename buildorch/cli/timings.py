"""`buildorch timings [RUN]`: the path of a run's timings page; and the writing of a run's
`--timings` page and `--trace` file from its recorded events (`build`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import click

from buildorch.cli import config_of, out
from buildorch.errors import BuildorchError
from buildorch.running.events import Event

TIMINGS = "timings"
KEEP = 20


def write(state_dir: Path, events: Sequence[Event], rid: str, *,
          timings: str | None, trace: str | None) -> list[Path]:
    """Write the run's page (`timings`: a path, or "" for the default one under
    `.buildorch/timings/`, pruned to the last KEEP) and its trace; the paths written."""
    from buildorch.edges.state import atomic_write
    from buildorch.render import timings as page
    from buildorch.render.trace import trace as chrome_trace
    from buildorch.running.timeline import fold

    tl = fold(events, now=time.time())
    written: list[Path] = []
    try:
        if timings is not None:
            folder = state_dir / TIMINGS
            path = Path(timings) if timings else folder / f"{rid}.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, page.page(tl, rid).encode())
            written.append(path)
            if not timings:
                for old in sorted(folder.glob("*.html"))[:-KEEP]:
                    old.unlink(missing_ok=True)
        if trace:
            path = Path(trace)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(chrome_trace(tl), separators=(",", ":")).encode())
            written.append(path)
    except OSError as exc:
        raise BuildorchError(f"could not write the run's timings to {exc.filename} "
                             f"({exc.strerror or exc}); the build itself is done") from exc
    return written


@click.command("timings")
@click.argument("run", required=False)
@click.pass_context
def command(ctx: click.Context, run: str | None) -> None:
    """The path of the newest timings page (`build --timings`), or of RUN (its id, or the
    start of it, as in the file's name)."""
    cfg = config_of(ctx)
    folder = cfg.state_dir / TIMINGS
    pages = sorted(folder.glob("*.html")) if folder.is_dir() else []
    if run:
        pages = [p for p in pages if p.stem.startswith(run)]
    if not pages:
        what = f"for run {run} " if run else ""
        raise BuildorchError(f"no timings page {what}in {folder}: run `buildorch build "
                             "--timings` (it keeps the last 20)")
    out(str(pages[-1]))
