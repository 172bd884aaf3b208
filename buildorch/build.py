"""`buildorch build`: the plan turned into images, through the scheduler and the builder."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

import tenacity

from buildorch import project, scheduler, state
from buildorch.builder import (
    LABEL_DIGEST,
    LABEL_NAME,
    BuildResult,
    BuildSpec,
    cache_args,
    gc_local_cache,
    run_build,
)
from buildorch.config import Config
from buildorch.digest import Record
from buildorch.engine import Engine
from buildorch.events import Event, Failed, Finished, Queued, Skipped, UpToDate
from buildorch.plan import Plan

MAX_TRIES = 3


@dataclass(frozen=True)
class BuildOptions:
    names: tuple[str, ...] = ()
    force_all: bool = False
    since: str | None = None
    jobs: int | None = None
    push: bool = False
    fail_fast: bool = False
    dry_run: bool = False
    cache_to: tuple[str, ...] = ()     # extra cache destinations (docker-build-enhanced)
    warm: bool = False                 # pull previous images first (cache warming)


@dataclass
class ImageReport:
    name: str
    result: str                      # built | up-to-date | failed | skipped | cancelled
    duration_s: float = 0.0
    steps: int = 0
    cached_steps: int = 0
    reason: str = ""


@dataclass
class BuildReport:
    plan: Plan
    notes: tuple[str, ...]
    images: dict[str, ImageReport] = field(default_factory=dict)
    wall_s: float = 0.0
    cancelled: bool = False
    cleanup: str = ""

    def count(self, result: str) -> int:
        return sum(1 for r in self.images.values() if r.result == result)

    @property
    def ok(self) -> bool:
        return not self.cancelled and not any(
            r.result in ("failed", "skipped", "cancelled") for r in self.images.values())


def _weights(state_dir_history: list[dict[str, object]]) -> dict[str, float]:
    durations: dict[str, list[float]] = {}
    for h in state_dir_history:
        d = h.get("duration_s")
        if h.get("result") == "built" and isinstance(d, int | float):
            durations.setdefault(str(h.get("image")), []).append(float(d))
    return {n: statistics.median(v[-10:]) for n, v in durations.items()}


@contextlib.contextmanager
def _signals_cancel(cancel: threading.Event) -> Iterator[list[int]]:
    """SIGINT/SIGTERM set `cancel` instead of raising; the running builds are then stopped."""
    got: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        got.append(signum)
        cancel.set()

    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def spec_for(cfg: Config, name: str, record: Record, opts: BuildOptions) -> BuildSpec:
    image = cfg.images[name]
    local_dir = cfg.state_dir / "cache" / name
    in_actions = os.environ.get("GITHUB_ACTIONS") == "true" and \
        bool(os.environ.get("ACTIONS_RUNTIME_TOKEN"))
    kinds_to = tuple(dict.fromkeys((*cfg.cache_to, *opts.cache_to)))
    cache_from, cache_to = cache_args(
        cfg.cache_from, kinds_to, name=name, ref=cfg.ref(name),
        repository=cfg.repository(name) if cfg.registry else None,
        local_dir=local_dir, in_actions=in_actions)
    tier = cfg.tiers[image.tier]
    return BuildSpec(
        name=name,
        tags=(cfg.ref(name),),
        dockerfile=cfg.root / image.dockerfile,
        context=cfg.root / image.context,
        target=image.target,
        platform=image.platform or cfg.platform,
        build_args=(*image.args, ("BUILDKIT_INLINE_CACHE", "1")),
        labels=((LABEL_NAME, name), (LABEL_DIGEST, record.digest)),
        cache_from=cache_from,
        cache_to=cache_to,
        push=opts.push,
        builder=tier.builder,
        metadata_file=cfg.state_dir / "meta" / f"{name}.json",
    )


def build(cfg: Config, opts: BuildOptions, emit: Callable[[Event], None],
          cancel: threading.Event | None = None) -> BuildReport:
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    engine = Engine.connect()
    with state.build_lock(cfg.state_dir):
        present = engine.present(cfg.ref(n) for n in cfg.images)
        missing = {n for n in cfg.images if cfg.ref(n) not in present}
        result = project.plan(cfg, since=opts.since, selected=opts.names,
                              force_all=opts.force_all, missing=missing)
        report = BuildReport(result.plan, result.notes)
        snap = result.snapshot
        stale = {s.name for s in result.plan.stale}
        for n in result.plan.fresh:
            emit(UpToDate(n))
            report.images[n] = ImageReport(n, "up-to-date")
            if not opts.dry_run:
                state.append_history(cfg.state_dir, {
                    "image": n, "tier": cfg.images[n].tier, "digest": snap.records[n].digest,
                    "start": time.time(), "duration_s": 0.0, "steps": 0, "cached_steps": 0,
                    "result": "up-to-date"})
        if opts.dry_run or not stale:
            for s in result.plan.stale:
                emit(Queued(s.name, s.tier))
                emit(Skipped(s.name, "dry run: " + "; ".join(s.reasons)))
            report.wall_s = time.monotonic() - t0
            return report
        if opts.warm:
            _warm(engine, cfg, stale)
        jobs = [scheduler.Job(s.name, s.tier,
                              tuple(p for p in snap.graph.parents(s.name) if p in stale))
                for s in result.plan.stale]
        limits = scheduler.Limits(
            jobs=opts.jobs or cfg.jobs,
            tier_max_parallel={t.name: t.max_parallel for t in cfg.tiers.values()
                               if t.max_parallel})

        def build_one(job: scheduler.Job, cancel_flag: threading.Event) -> scheduler.Outcome:
            record = snap.records[job.name]
            spec = spec_for(cfg, job.name, record, opts)
            tier = cfg.tiers[job.tier]
            started = time.time()
            log_path = cfg.state_dir / "logs" / f"{job.name}.log"
            with contextlib.suppress(FileNotFoundError):
                log_path.unlink()

            def attempt() -> BuildResult:
                return run_build(spec, emit=emit, cancel=cancel_flag, log_path=log_path,
                                 timeout_s=tier.timeout, step_timeout_s=tier.step_timeout)

            res: BuildResult = tenacity.Retrying(
                stop=tenacity.stop_after_attempt(MAX_TRIES),
                wait=tenacity.wait_exponential(multiplier=1, max=10),
                retry=tenacity.retry_if_result(
                    lambda r: r.transient and not cancel_flag.is_set()),
                retry_error_callback=lambda rs: rs.outcome.result() if rs.outcome else None,
                sleep=lambda s: _interruptible_sleep(cancel_flag, s),
            )(attempt)
            entry: dict[str, object] = {
                "image": job.name, "tier": job.tier, "digest": record.digest, "start": started,
                "duration_s": round(res.duration_s, 3), "steps": res.steps,
                "cached_steps": res.cached_steps,
                "cache_from": list(spec.cache_from), "cache_warnings": list(res.cache_warnings),
            }
            if res.ok:
                state.record_built(cfg.state_dir, job.name, record, res.image_id)
                local = cfg.state_dir / "cache" / job.name
                gc_local_cache(local)
                entry["result"] = "built"
                state.append_history(cfg.state_dir, entry)
                report.images[job.name] = ImageReport(job.name, "built", res.duration_s,
                                                      res.steps, res.cached_steps)
                emit(Finished(job.name, duration_s=res.duration_s, steps=res.steps,
                              cached_steps=res.cached_steps, image_id=res.image_id))
                return scheduler.Outcome(True)
            result_kind = "cancelled" if res.cancelled else "failed"
            entry["result"] = result_kind
            entry["reason"] = res.reason
            state.append_history(cfg.state_dir, entry)
            report.images[job.name] = ImageReport(job.name, result_kind, res.duration_s,
                                                  res.steps, res.cached_steps, res.reason)
            emit(Failed(job.name, reason=res.reason, duration_s=res.duration_s,
                        log_tail=() if res.cancelled else res.log_tail[-15:]))
            return scheduler.Outcome(False, res.reason)

        def on_event(e: Event) -> None:
            if isinstance(e, Skipped):
                report.images[e.image] = ImageReport(e.image, "skipped", reason=e.reason)
            emit(e)

        with _signals_cancel(cancel):
            run = scheduler.run(jobs, build_one, limits, emit=on_event, cancel=cancel,
                                fail_fast=opts.fail_fast,
                                weights=_weights(state.read_history(cfg.state_dir)))
        if run.cancelled:
            report.cancelled = True
            report.cleanup = engine.emergency_cleanup(60.0)
    report.wall_s = time.monotonic() - t0
    return report


def _interruptible_sleep(cancel: threading.Event, seconds: float) -> None:
    cancel.wait(seconds)


def _warm(engine: Engine, cfg: Config, names: set[str]) -> None:
    """Cache warming (seed: pre-pull existing images): failures only cost cache hits."""
    for n in names:
        with contextlib.suppress(Exception):
            engine.client.images.pull(cfg.ref(n))
