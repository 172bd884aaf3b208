"""The stale images of a plan, built: the builders asked what they can do, the strategy decided,
then the scheduler over the per-image pipeline. Imported only by a run that has something to
build (a no-change run never loads the scheduler, the buildx process or the capabilities
probe)."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable

from buildorch.config import Config
from buildorch.edges import proc, state
from buildorch.edges.capabilities import detect
from buildorch.edges.engine import Engine
from buildorch.planning.baseline import PlanResult
from buildorch.planning.links import config_links
from buildorch.running import scheduler
from buildorch.running.events import Event
from buildorch.running.options import BuildOptions, DiskCareFor
from buildorch.running.pipeline import ImagePipeline
from buildorch.running.registry import warm
from buildorch.running.report import BuildReport
from buildorch.running.strategy import builder_name, plan_strategy


def _weights(history: list[dict[str, object]]) -> dict[str, float]:
    """Median of the last ten build durations per image: the scheduler's path weights."""
    durations: dict[str, list[float]] = {}
    for h in history:
        d = h.get("duration_s")
        if h.get("result") == "built" and isinstance(d, int | float):
            durations.setdefault(str(h.get("image")), []).append(float(d))
    return {n: statistics.median(v[-10:]) for n, v in durations.items()}


def execute(cfg: Config, opts: BuildOptions, engine: Engine, result: PlanResult,
            report: BuildReport, emit: Callable[[Event], None], cancel: threading.Event,
            disk: DiskCareFor | None) -> None:
    """Build the stale images of `result` (there are some): capabilities, strategy, then the
    scheduler over the pipeline; every event folded into `report` on its way to `emit`.
    `disk`: the care of the engine's disk the caller chose (None: no guard, no cleanup)."""
    snap = result.snapshot
    stale = {s.name for s in result.plan.stale}
    care = disk(engine) if disk is not None else None
    involved = {*stale, *(p for n in stale for p in snap.graph.parents(n))}
    caps = detect(engine, {builder_name(cfg, n) for n in involved})
    strategy = plan_strategy(cfg, opts, caps, snap, stale)
    report.notes = (*report.notes, *strategy.notes)
    if opts.warm:
        warm(engine, cfg, stale)
    jobs = [scheduler.Job(s.name, s.tier,
                          tuple(p for p in snap.graph.parents(s.name) if p in stale))
            for s in result.plan.stale]
    limits = scheduler.Limits(
        jobs=opts.jobs or cfg.jobs,
        tier_max_parallel={t.name: t.max_parallel for t in cfg.tiers.values()
                           if t.max_parallel})
    links = config_links(cfg, {n: i.external_images for n, i in snap.inputs.items()})
    pipeline = ImagePipeline(cfg, opts, engine, snap, report, emit, strategy, care, links=links)
    with proc.cancel_on_signals(cancel):
        run = scheduler.run(jobs, pipeline.build_one, limits, emit=pipeline.emit,
                            cancel=cancel, fail_fast=opts.fail_fast,
                            weights=_weights(state.read_history(cfg.state_dir)))
    if run.cancelled:
        report.cancelled = True
        if care is not None:
            # Only buildorch's own leftovers (by label): never anyone else's things.
            report.cleanup = care.emergency_cleanup()
