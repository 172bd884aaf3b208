"""One image through a run, on a worker thread: the disk guard, a registry image of the same
inputs, the build (retried when the fault is transient), the image brought into this engine,
its smoke check, the push its children need, the manifest, and the housekeeping after.

Every event (the scheduler's, the buildx process's, this module's) passes through
`ImagePipeline.emit`, the run's one sink: folded into the report, closing an image's history
line when it ends the image, and only then handed to the renderer."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from buildorch.config import Config, Tier
from buildorch.edges import state
from buildorch.edges.engine import Engine
from buildorch.edges.state import Record
from buildorch.errors import BuildorchError
from buildorch.planning.digest import Snapshot
from buildorch.planning.links import Links
from buildorch.running import scheduler
from buildorch.running.buildx import BuildResult, is_interrupted_export, run_build
from buildorch.running.cache import tidy_local
from buildorch.running.events import Event, Failed, Finished, Step, Warned, one_line
from buildorch.running.history import ImageLines
from buildorch.running.options import BuildOptions, DiskCare
from buildorch.running.registry import Registry, reuse_ref
from buildorch.running.report import BuildReport
from buildorch.running.smoke import check_built
from buildorch.running.spec import BuildSpec, spec_for
from buildorch.running.strategy import Strategy

MAX_TRIES = 3


@dataclass
class ImagePipeline:
    """The state the images of one run share (worker threads): the report, the history lines,
    the registry traffic, and whether the engine went away."""

    cfg: Config
    opts: BuildOptions
    engine: Engine
    snap: Snapshot
    report: BuildReport
    out: Callable[[Event], None]
    strategy: Strategy
    disk: DiskCare | None = None
    links: Links | None = None     # each child's FROM links (planning/links.py)
    lock: threading.Lock = field(default_factory=threading.Lock)
    engine_gone: threading.Event = field(default_factory=threading.Event)
    lines: ImageLines = field(init=False)
    registry: Registry = field(init=False)

    def __post_init__(self) -> None:
        self.lines = ImageLines(self.cfg, self.snap)
        self.registry = Registry(self.cfg, self.engine, self.snap, self.strategy, self.emit,
                                 self.links)

    def emit(self, e: Event) -> None:
        self.report.apply(e)
        if isinstance(e, Finished | Failed):
            w = self.lines.close(e)
            if w is not None:
                self.report.apply(w)
                self.out(w)
        self.out(e)

    def build_one(self, job: scheduler.Job, cancel: threading.Event) -> scheduler.Outcome:
        cfg, record = self.cfg, self.snap.records[job.name]
        tier = cfg.tiers[job.tier]
        entry = self.lines.open(job.name, job.tier, record.digest, time.time())
        if self.engine_gone.is_set():
            return self._failed(job.name, f"not started: {self.report.engine_gone}", 0.0,
                                cause="engine")
        if self.disk is not None:
            try:
                note = self.disk.check(tier)
            except BuildorchError as exc:
                return self._failed(job.name, str(exc), 0.0)
            if note:
                self.emit(Step(job.name, name=f"disk guard: {note}", started=None,
                               completed=time.time(), cached=False, error=None))
        if self._reuse(job.name, record, entry):
            return scheduler.Outcome(True)
        builder = self.strategy.builder(cfg, job.name)
        cache = self.strategy.cache[job.tier]
        spec = spec_for(cfg, job.name, record, self.opts, cache=cache, builder=builder)
        spec = self.registry.tagged(spec, record.digest, self.opts.cache_to or cfg.cache_to)
        try:
            spec = self.registry.pinned(spec)
        except BuildorchError as exc:
            return self._failed(job.name, f"pushing a parent for it: {exc}", 0.0)
        log_path = cfg.state_dir / "logs" / f"{job.name}.log"
        with contextlib.suppress(FileNotFoundError):
            log_path.unlink()
        res = self._attempts(spec, tier, cancel, log_path)
        if not res.ok and not res.cancelled and is_interrupted_export(res.reason):
            # kill -9 during an export leaves the containerd store unable to commit the same
            # content again; a plain retry repeats it, a build without the cache does not.
            self.emit(Warned(job.name, "the engine kept the state of an interrupted export "
                             f"({one_line(res.reason)}): building {job.name} again without "
                             "the cache to recover"))
            res = self._attempts(replace(spec, no_cache=True), tier, cancel, log_path)
        entry.update({"duration_s": round(res.duration_s, 3), "steps": res.steps,
                      "cached_steps": res.cached_steps, "cache_from": list(spec.cache_from),
                      "cache_warnings": list(res.cache_warnings)})
        if not res.ok:
            if not res.cancelled and self._engine_stopped():
                return self._failed(job.name, f"interrupted: {self.report.engine_gone}",
                                    res.duration_s, cause="engine")
            return self._failed(job.name, res.reason, res.duration_s,
                                cause="cancelled" if res.cancelled else "build",
                                tail=res.log_tail[-15:])
        try:
            self.registry.bring_here(job.name, spec, res)
        except BuildorchError as exc:
            return self._failed(job.name, str(exc), res.duration_s)
        smoke = check_built(self.engine.client, cfg, job.name, self.emit, cancel) \
            if self.opts.smoke else None
        if smoke is not None:
            entry.update({"smoke": smoke.outcome, "smoke_s": round(smoke.duration_s, 3)})
            if not smoke.ok:   # not recorded in the manifest: the next run checks it again
                return self._failed(job.name, f"smoke check failed: {smoke.reason}",
                                    res.duration_s,
                                    cause="cancelled" if smoke.cancelled else "build",
                                    tail=smoke.log_tail)
        try:
            self.registry.publish(job.name, spec)
        except BuildorchError as exc:
            return self._failed(job.name, str(exc), res.duration_s)
        state.record_built(cfg.state_dir, job.name, record, res.image_id)
        self._housekeeping(job.name, spec)
        self.emit(Finished(job.name, duration_s=res.duration_s, steps=res.steps,
                           cached_steps=res.cached_steps, image_id=res.image_id))
        return scheduler.Outcome(True)

    def _attempts(self, spec: BuildSpec, tier: Tier, cancel: threading.Event,
                  log_path: Path) -> BuildResult:
        def attempt() -> BuildResult:
            return run_build(spec, emit=self.emit, cancel=cancel, log_path=log_path,
                             timeout_s=tier.timeout, step_timeout_s=tier.step_timeout)

        import tenacity  # only when something builds: a no-change run never needs it

        res: BuildResult = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(MAX_TRIES),
            wait=tenacity.wait_exponential(multiplier=1, max=10),
            retry=tenacity.retry_if_result(lambda r: r.transient and not cancel.is_set()
                                           and not self.engine_gone.is_set()),
            retry_error_callback=lambda rs: rs.outcome.result() if rs.outcome else None,
            sleep=lambda s: _interruptible_sleep(cancel, s),
        )(attempt)
        return res

    def _engine_stopped(self) -> bool:
        """After a failed build: is the engine still there? If not, say it once for the run."""
        if self.engine_gone.is_set():
            return True
        if self.engine.answers():
            return False
        with self.lock:
            first = not self.engine_gone.is_set()
            if first:
                self.report.engine_gone = (
                    f"the Docker engine at {self.engine.where} stopped answering during the "
                    "build; start it again (Docker Desktop, `colima start`, `sudo systemctl "
                    "start docker`) and run `buildorch build` again: what finished is kept")
                self.engine_gone.set()
        if first:
            self.emit(Warned("", self.report.engine_gone))
        return True

    def _housekeeping(self, name: str, spec: BuildSpec) -> None:
        """After a good build: best-effort. A failure here is a warning, never a failed image."""
        self.registry.share(name, spec)
        try:
            tidy_local(self.cfg, name, self.lock)
        except Exception as exc:
            self.emit(Warned(name, f"local cache housekeeping skipped ({one_line(str(exc))}); "
                             "the image is built"))

    def _reuse(self, name: str, record: Record, entry: dict[str, object]) -> bool:
        """A teammate or CI already built these exact inputs: pull and retag, don't build."""
        cfg = self.cfg
        if not cfg.registry or self.opts.no_reuse or self.opts.push:
            return False
        t = time.monotonic()
        image_id = self.registry.pull_reused(name, record.digest)
        if image_id is None:
            return False
        took = time.monotonic() - t
        state.record_built(cfg.state_dir, name, record, image_id)
        entry.update({"duration_s": round(took, 3), "steps": 0, "cached_steps": 0,
                      "reused_from": reuse_ref(cfg, name, record.digest)})
        self.emit(Finished(name, duration_s=took, steps=0, cached_steps=0, image_id=image_id,
                           reused=True))
        return True

    def _failed(self, name: str, reason: str, duration: float, *, cause: str = "build",
                tail: tuple[str, ...] = ()) -> scheduler.Outcome:
        self.emit(Failed(name, reason=reason, duration_s=duration,
                         log_tail=() if cause != "build" else tail, cause=cause))
        return scheduler.Outcome(False, reason)


def _interruptible_sleep(cancel: threading.Event, seconds: float) -> None:
    cancel.wait(seconds)
