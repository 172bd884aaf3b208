"""`buildorch build`: plan against the manifest, then (running/execute.py) the stale images built
through the scheduler and the builder. The report of a run is folded here from its events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from buildorch.config import Config, Tier
from buildorch.edges import state
from buildorch.edges.engine import Engine
from buildorch.planning import baseline as project
from buildorch.planning.plan import Plan
from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Queued,
    Skipped,
    Step,
    UpToDate,
    Warned,
    is_dockerfile_step,
)


@dataclass(frozen=True)
class BuildOptions:
    names: tuple[str, ...] = ()
    force_all: bool = False
    since: str | None = None
    jobs: int | None = None
    push: bool = False
    fail_fast: bool = False
    dry_run: bool = False
    cache_to: tuple[str, ...] = ()     # replaces [cache] to (--cache-to); each one must work
    warm: bool = False                 # pull previous images first (cache warming)
    no_reuse: bool = False             # never pull a bo-<digest> image instead of building
    smoke: bool = True                 # run each built image's smoke check (--no-smoke: off)
    no_deps: bool = False              # exactly `names`, parents as they are (CI, per tier)


@dataclass
class ImageReport:
    name: str
    result: str      # built | reused | up-to-date | failed | interrupted | skipped | cancelled
    duration_s: float = 0.0
    steps: int = 0
    cached_steps: int = 0
    reason: str = ""


_RESULT_OF_CAUSE = {"build": "failed", "cancelled": "cancelled", "engine": "interrupted"}


@dataclass
class BuildReport:
    """What a run did, folded from its events and nothing else: the summary, the exit status,
    the CI step summary and the history all come from here (via `apply`), so no image can fail
    in the event stream and succeed in the summary."""

    plan: Plan
    notes: tuple[str, ...]
    images: dict[str, ImageReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failures: list[Failed] = field(default_factory=list)
    wall_s: float = 0.0
    cancelled: bool = False
    cleanup: str = ""
    engine_gone: str = ""            # one line: the engine stopped answering (and what to do)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _steps: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)

    def apply(self, e: Event) -> None:
        with self.lock:
            if isinstance(e, Step):
                if (e.completed or e.cached) and not e.error and is_dockerfile_step(e.name):
                    n = self._steps.setdefault(e.image, [0, 0])
                    n[0] += 1
                    n[1] += e.cached
            elif isinstance(e, UpToDate):
                self.images[e.image] = ImageReport(e.image, "up-to-date")
            elif isinstance(e, Finished):
                self.images[e.image] = ImageReport(
                    e.image, "reused" if e.reused else "built", e.duration_s, e.steps,
                    e.cached_steps)
            elif isinstance(e, Failed):
                steps, cached = self._steps.get(e.image, (0, 0))
                self.images[e.image] = ImageReport(
                    e.image, _RESULT_OF_CAUSE.get(e.cause, "failed"), e.duration_s,
                    steps, cached, e.reason)
                self.failures.append(e)
            elif isinstance(e, Skipped):
                self.images[e.image] = ImageReport(e.image, "skipped", reason=e.reason)
            elif isinstance(e, Warned):
                self.warnings.append(f"{e.image}: {e.message}" if e.image else e.message)

    def count(self, result: str) -> int:
        return sum(1 for r in self.images.values() if r.result == result)

    @property
    def ok(self) -> bool:
        """Any `failed` event (of any cause) fails the run; so does a cancelled one."""
        return not self.cancelled and not self.failures


def history_warning(cfg: Config, image: str, exc: OSError) -> Warned:
    """The history is a record, not the build: a failed append is said, and the run goes on."""
    return Warned(image, f"could not append to {cfg.state_dir / state.HISTORY} "
                  f"({exc.strerror or exc}); stats will miss this run")


def build(cfg: Config, opts: BuildOptions, emit: Callable[[Event], None],
          cancel: threading.Event | None = None,
          guard: Callable[[Tier], str | None] | None = None,
          engine: Engine | None = None) -> BuildReport:
    """`guard(tier)` runs before an image of that tier builds (default: the disk guard, once
    per tier): a note of what it cleaned, or BuildorchError to fail the image with that line.
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
                state.append_history(cfg.state_dir, *(
                    {"image": n, "tier": cfg.images[n].tier, "digest": snap.records[n].digest,
                     "start": now, "duration_s": 0.0, "steps": 0, "cached_steps": 0,
                     "result": "up-to-date"} for n in result.plan.fresh))
            except OSError as exc:
                sink(history_warning(cfg, "", exc))
        if opts.dry_run or not stale:
            for s in result.plan.stale:
                sink(Queued(s.name, s.tier))
                sink(Skipped(s.name, "dry run: " + "; ".join(s.reasons)))
            report.wall_s = time.monotonic() - t0
            return report
        from buildorch.running.execute import execute  # only when something builds

        execute(cfg, opts, engine, result, report, emit, cancel, guard)
    report.wall_s = time.monotonic() - t0
    return report
