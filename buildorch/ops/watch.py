"""`buildorch watch`: every edit to what the selected images read starts a round, and a round is
a build (the caller's `run_round`, which calls the one `running.build.build`): planned against
the manifest of the last good build, the stale images built in order, recorded image by image.

The policy for an edit that arrives during a round (`POLICY`): images not yet started are not
started (they are planned again), those running finish and are recorded, then the next round
plans from the new tree. The manifest is only ever written by the build, one whole image at a
time, and a child never starts in a round once an edit arrived, so no child is built on a parent
the edit makes stale: the next round sees that parent stale and rebuilds the child after it.
"""

from __future__ import annotations

import contextlib
import posixpath
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import ClassVar

from buildorch.config import Config
from buildorch.edges import state
from buildorch.edges.watcher import Batch, Watcher
from buildorch.errors import EXIT_INTERRUPTED, BuildorchError, ConfigError
from buildorch.ops.restart import ComposeProject, compose_files
from buildorch.planning import baseline
from buildorch.planning.watchset import WatchSet, ignored, watch_set
from buildorch.running.options import BuildOptions
from buildorch.running.report import BuildReport
from buildorch.running.scheduler import DRAINED

POLICY = ("an edit during a round: images not yet started are planned again, those running "
          "finish, then the next round starts")
# After a burst, wait this long for quiet before a round starts (watchfiles already joined
# what came within 50 ms): a checkout or a formatter run over many files is one round.
SETTLE_S = 0.1
MAX_SETTLE_S = 10.0
_LOCK_POLL_S = 1.0


@dataclass(frozen=True)
class WatchEvent:
    KIND: ClassVar[str] = ""
    time: float = field(default_factory=time.time, kw_only=True)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.KIND, "time": self.time}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Watching(WatchEvent):
    """What is watched (again, after services.toml or a .dockerignore changed it)."""

    KIND: ClassVar[str] = "watching"
    images: tuple[str, ...]
    files: int
    folders: int
    policy: str = POLICY


@dataclass(frozen=True)
class RoundStarted(WatchEvent):
    KIND: ClassVar[str] = "round-started"
    round: int
    changed: tuple[str, ...]      # the paths that started it (empty: the first round)


@dataclass(frozen=True)
class RoundFinished(WatchEvent):
    KIND: ClassVar[str] = "round-finished"
    round: int
    ok: bool
    built: tuple[str, ...]
    failed: tuple[str, ...]
    replanned: tuple[str, ...]    # not started: an edit arrived; the next round plans them
    restarted: tuple[str, ...]    # compose services recreated (--up)
    error: str = ""               # why the round could not build at all (one line)
    duration_s: float = 0.0


@dataclass(frozen=True)
class Notice(WatchEvent):
    KIND: ClassVar[str] = "notice"
    message: str


RoundFn = Callable[[Config, BuildOptions, threading.Event], BuildReport]


class _Session:
    def __init__(self, cfg: Config, opts: BuildOptions, run_round: RoundFn,
                 say: Callable[[WatchEvent], None], up: Sequence[str] | None) -> None:
        self.cfg = cfg
        self.opts = opts
        self.run_round = run_round
        self.say = say
        self.up = up                  # None: no --up; else [project] compose (may be empty)
        self.inbox: queue.Queue[Batch | BuildorchError] = queue.Queue()
        self.drain = threading.Event()
        self.in_round = threading.Event()
        self.ws = WatchSet(frozenset(), frozenset(), frozenset(), "")
        self.created: set[str] = set()     # folders made under watched ones since we started
        self.missing: dict[str, str] = {}  # a watched folder gone -> the ancestor watched instead
        self.config_error = ""
        self.to_restart: set[str] = set()  # rebuilt, not yet restarted (a drained round's)
        self.rounds = 0
        self.watcher = Watcher(cfg.root, self._on_batch, self.inbox.put)

    # --- the watcher's thread -------------------------------------------------------------
    def _on_batch(self, batch: Batch) -> None:
        batch = [(c, p) for c, p in batch if not ignored(p, self.cfg.hidden)]
        if not batch:
            return
        self.inbox.put(batch)
        if self.in_round.is_set() and self.ws.relevant(p for _, p in batch):
            self.drain.set()

    # --- the main thread ------------------------------------------------------------------
    def rewatch(self, renew: bool = False) -> None:
        """What the images read now: the set to filter with, and the folders to watch
        (`renew`: watched anew, after deletions that may have taken a folder with them)."""
        snap = baseline.work_snapshot(self.cfg)
        ws = watch_set(self.cfg, snap, self.opts.names)
        root = self.cfg.root
        self.created = {d for d in self.created if (root / d).is_dir()}
        # A folder removed with everything in it (a checkout, `rm -r`): until it is back, its
        # nearest ancestor is watched, so that its coming back is seen.
        for d in self.ws.dirs | set(self.missing):
            if not (root / d).is_dir():
                up = d
                while up and not (root / up).is_dir():
                    up = posixpath.dirname(up)
                self.missing[d] = up
        self.missing = {d: up for d, up in self.missing.items() if not (root / d).is_dir()}
        changed = ws.files != self.ws.files
        self.ws = ws
        self.watcher.watch(ws.dirs | self.created | set(self.missing.values()), renew=renew)
        if changed:
            self.say(Watching(tuple(sorted(ws.images)), len(ws.files),
                              len(self.watcher.dirs)))

    def collect(self) -> list[tuple[str, str]]:
        """The next burst of changes: blocks for the first, then takes what follows until
        `SETTLE_S` of quiet."""
        first = self.inbox.get()
        items = [first]
        deadline = time.monotonic() + MAX_SETTLE_S
        while time.monotonic() < deadline:
            try:
                items.append(self.inbox.get(timeout=SETTLE_S))
            except queue.Empty:
                break
        events: list[tuple[str, str]] = []
        for item in items:
            if isinstance(item, BuildorchError):
                raise item
            events.extend(item)
        return events

    def changed(self, events: list[tuple[str, str]]) -> list[str]:
        """Which of `events` an image reads (before or after them); re-reads the config and
        what is watched when the events may have changed it."""
        paths = {p for _, p in events}
        relevant = set(self.ws.relevant(paths))
        # A folder made in a watched one may soon hold files an image reads (a COPY of the
        # folder above it): watch it too until the next look says whether it does.
        made = {p for kind, p in events if kind == "added" and (self.cfg.root / p).is_dir()
                and posixpath.dirname(p) in self.watcher.dirs} - self.created
        self.created |= made
        structural = any(kind != "modified" for kind, _ in events) or any(
            p == self.ws.config or p.endswith((".dockerignore", "Dockerfile"))
            for p in relevant)
        if self.ws.config in paths:
            try:
                self.cfg = baseline.open_config(self.cfg.path)
            except ConfigError as exc:
                self.config_error = exc.problems[0]
                self.say(Notice(f"{exc.problems[0]} — no round until it is fixed; "
                                "still watching"))
                return []
            self.config_error = ""
        if structural or made:
            try:
                self.rewatch(renew=any(kind == "deleted" for kind, _ in events))
            except BuildorchError as exc:   # e.g. a Dockerfile that does not parse
                self.say(Notice(f"{exc} (watching what was read before)"))
                return sorted(relevant)
            relevant |= set(self.ws.relevant(paths))
        return sorted(relevant)

    def round(self, changed: Sequence[str]) -> int | None:
        """One build; EXIT_INTERRUPTED when it was cancelled (^C), else None."""
        self.rounds += 1
        n = self.rounds
        self.say(RoundStarted(n, tuple(changed)))
        t0 = time.monotonic()
        self.drain.clear()
        self.in_round.set()
        try:
            report = self._build()
        except BuildorchError as exc:
            lines = str(exc).splitlines() or [type(exc).__name__]
            more = f" (and {len(lines) - 1} more problem(s))" if len(lines) > 1 else ""
            self.say(RoundFinished(n, False, (), (), (), (), error=lines[0] + more,
                                   duration_s=time.monotonic() - t0))
            return None
        finally:
            self.in_round.clear()
        if report.cancelled:
            return EXIT_INTERRUPTED
        built = tuple(r.name for r in report.images.values() if r.result in ("built", "reused"))
        failed = tuple(sorted({f.image for f in report.failures}))
        replanned = tuple(r.name for r in report.images.values()
                          if r.result == "skipped" and r.reason == DRAINED)
        self.to_restart.update(built)
        restarted: tuple[str, ...] = ()
        error = ""
        if self.up is not None and report.ok and not replanned and self.to_restart:
            try:
                restarted = self._restart(self.to_restart)
                self.to_restart.clear()
            except BuildorchError as exc:
                error = f"--up: {str(exc).splitlines()[0]}"
        self.say(RoundFinished(n, report.ok and not error, built, failed, replanned, restarted,
                               error=error, duration_s=time.monotonic() - t0))
        return None

    def _build(self) -> BuildReport:
        # services.toml as a build would read it now: it checks the tree too (a Dockerfile
        # that is gone is its error, as in `buildorch build`)
        self.cfg = baseline.open_config(self.cfg.path)
        said = False
        while True:
            try:
                return self.run_round(self.cfg, self.opts, self.drain)
            except state.LockHeld as exc:
                if not said:
                    self.say(Notice(f"waiting: {exc}"))
                    said = True
                time.sleep(_LOCK_POLL_S)

    def _restart(self, images: Iterable[str]) -> tuple[str, ...]:
        assert self.up is not None
        # services.toml may have changed since the start: its [project] compose now
        project = ComposeProject(self.cfg, compose_files(self.cfg, self.cfg.compose))
        services = project.services_running(images)
        project.recreate(services)
        return tuple(services)


def preflight(cfg: Config, opts: BuildOptions, up: Sequence[str] | None) -> None:
    """What can be refused before the engine is asked anything: unknown IMAGES, no compose
    file for --up, a state folder that cannot be written."""
    for name in opts.names:
        if name not in cfg.images:
            raise cfg.unknown_image(name)
    if up is not None:
        compose_files(cfg, up)
    state.check_writable(cfg.state_dir)


def watch(cfg: Config, opts: BuildOptions, *, run_round: RoundFn,
          say: Callable[[WatchEvent], None], up: Sequence[str] | None = None) -> int:
    """Watch until ^C; returns the exit code (130 when a round was interrupted; a ^C
    between rounds raises KeyboardInterrupt, after the watcher is stopped).
    `up`: restart compose services after each good round (`[project] compose`, or () to find
    the compose file as `init` does); None: restart nothing."""
    preflight(cfg, opts, up)
    session = _Session(cfg, opts, run_round, say, up)
    with state.watch_lock(cfg.state_dir):
        try:
            session.rewatch()
            if session.round(()) is not None:
                return EXIT_INTERRUPTED
            while True:
                events = session.collect()
                changed = session.changed(events)
                if changed and not session.config_error \
                        and session.round(changed) is not None:
                    return EXIT_INTERRUPTED
        finally:
            with contextlib.suppress(Exception):
                session.watcher.close()
