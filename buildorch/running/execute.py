"""The stale images of a plan, built: the builders asked what they can do, the strategy decided,
then the scheduler over the per-image pipeline. Imported only by a run that has something to
build (a no-change run never loads the scheduler, the buildx process or the capabilities
probe)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from buildorch.config import Config
from buildorch.edges import proc, state
from buildorch.edges.capabilities import detect
from buildorch.edges.engine import Engine
from buildorch.edges.registry_probe import probe
from buildorch.planning.baseline import PlanResult
from buildorch.planning.links import config_links
from buildorch.running import scheduler
from buildorch.running.eta import medians
from buildorch.running.events import Event, Warned
from buildorch.running.options import BuildOptions, DiskCareFor
from buildorch.running.pipeline import ImagePipeline
from buildorch.running.progress import ProgressTracker
from buildorch.running.registry import Verdict, needs_of, verdict, warm
from buildorch.running.report import BuildReport
from buildorch.running.strategy import Strategy, builder_name, plan_strategy


def registry_preflight(cfg: Config, opts: BuildOptions, strategy: Strategy
                       ) -> tuple[Strategy, BuildOptions, Verdict]:
    """The registry this run will pull from or push to, probed once before anything builds: a
    push it refuses is one BuildorchError now; caches and reuse it refuses are dropped for the
    whole run (one warning, in the Verdict) instead of failing image after image."""
    if not cfg.registry:
        return strategy, opts, Verdict()
    plans = strategy.cache.values()
    pp = strategy.parents
    needs = needs_of(push=opts.push, sources=[k for p in plans for k in p.sources],
                     sinks=[*(k for p in plans for k in p.sinks),
                            *(opts.cache_to or cfg.cache_to)],
                     parents_cross=bool(pp.pins or pp.built_remotely),
                     reuse=not opts.no_reuse and not opts.push)
    if not needs:
        return strategy, opts, Verdict()
    said = verdict(needs, probe(cfg.registry, push=bool(needs.must_push or needs.push)))
    if said.no_pull:
        opts = replace(opts, no_reuse=True)
    cache = {t: replace(p, sources=tuple(k for k in p.sources if not (
                            said.no_pull and k in ("registry", "image"))),
                        sinks=tuple(k for k in p.sinks if not (said.no_push and k == "registry")))
             for t, p in strategy.cache.items()}
    return replace(strategy, cache=cache), opts, said


def execute(cfg: Config, opts: BuildOptions, engine: Engine, result: PlanResult,
            report: BuildReport, emit: Callable[[Event], None], cancel: threading.Event,
            disk: DiskCareFor | None, drain: threading.Event | None = None) -> None:
    """Build the stale images of `result` (there are some): capabilities, strategy, then the
    scheduler over the pipeline; every event folded into `report` on its way to `emit`.
    `disk`: the care of the engine's disk the caller chose (None: no guard, no cleanup).
    `drain` set: start no more images; those running finish (see `scheduler.run`)."""
    snap = result.snapshot
    stale = {s.name for s in result.plan.stale}
    care = disk(engine) if disk is not None else None
    involved = {*stale, *(p for n in stale for p in snap.graph.parents(n))}
    caps = detect(engine, {builder_name(cfg, n) for n in involved})
    strategy = plan_strategy(cfg, opts, caps, snap, stale)
    report.notes = (*report.notes, *strategy.notes)
    strategy, opts, said = registry_preflight(cfg, opts, strategy)
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
    # One history read: the scheduler's path weights and the ETA's durations.
    durations = medians(state.read_history(cfg.state_dir))
    progress = ProgressTracker(jobs, limits, durations, emit)
    pipeline = ImagePipeline(cfg, opts, engine, snap, report, progress, strategy, care,
                             said=said, links=links)
    progress.start()
    if said.warning:
        pipeline.emit(Warned("", said.warning))
    with proc.cancel_on_signals(cancel):
        run = scheduler.run(jobs, pipeline.build_one, limits, emit=pipeline.emit,
                            cancel=cancel, fail_fast=opts.fail_fast, weights=durations,
                            drain=drain)
    if run.cancelled:
        report.cancelled = True
        if care is not None:
            # Only buildorch's own leftovers (by label): never anyone else's things.
            report.cleanup = care.emergency_cleanup()
