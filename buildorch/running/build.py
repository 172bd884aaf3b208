"""One run of `buildorch build`: plan against the manifest, say what is up to date, then hand
the stale images to `execute.py` (imported only then: a no-change run stays light)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from buildorch.config import Config
from buildorch.edges import state
from buildorch.edges.engine import Engine
from buildorch.planning import baseline as project
from buildorch.running.events import Event, Queued, Skipped, UpToDate
from buildorch.running.history import append_up_to_date, history_warning
from buildorch.running.options import BuildOptions, DiskCareFor
from buildorch.running.report import BuildReport


def build(cfg: Config, opts: BuildOptions, emit: Callable[[Event], None],
          cancel: threading.Event | None = None,
          disk: DiskCareFor | None = None,
          engine: Engine | None = None) -> BuildReport:
    """`disk(engine)`: the care of the engine's disk for this run (the commands pass
    `ops.disk.DiskGuard`): its `check(tier)` runs before an image of that tier builds, its
    `emergency_cleanup()` after a cancelled run. None: neither.
    `engine`: the engine to use (default: the one the docker CLI would use here).

    The report is a fold of the events `emit` receives: nothing is added to it any other way
    (but the wall time, the cancel flag and the emergency cleanup's line)."""
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    state.check_writable(cfg.state_dir)
    engine = engine or Engine.connect()
    with state.build_lock(cfg.state_dir):
        result = project.plan(cfg, since=opts.since, selected=opts.names,
                              force_all=opts.force_all, engine=engine.images_of(cfg),
                              ancestry=not opts.no_deps)
        report = BuildReport(result.plan, result.notes)

        def sink(e: Event) -> None:
            report.apply(e)
            emit(e)

        snap = result.snapshot
        stale = {s.name for s in result.plan.stale}
        now = time.time()
        for n in result.plan.fresh:
            sink(UpToDate(n))
        if not opts.dry_run and result.plan.fresh:
            try:
                append_up_to_date(cfg, snap, result.plan.fresh, now)
            except OSError as exc:
                sink(history_warning(cfg, "", exc))
        if opts.dry_run or not stale:
            for s in result.plan.stale:
                sink(Queued(s.name, s.tier))
                sink(Skipped(s.name, "dry run: " + "; ".join(s.reasons)))
            report.wall_s = time.monotonic() - t0
            return report
        from buildorch.running.execute import execute  # only when something builds

        execute(cfg, opts, engine, result, report, emit, cancel, disk)
    report.wall_s = time.monotonic() - t0
    return report
