"""The images of a build: capabilities and strategy, the scheduler over the builder, smoke
checks, pushes for children, housekeeping. Imported only by a run that has something to build
(a no-change run never loads the scheduler, the builder or the capabilities probe)."""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from buildorch.config import Config, Tier
from buildorch.dockerlang.reference import context_key
from buildorch.edges import proc, state
from buildorch.edges.capabilities import Capabilities, detect
from buildorch.edges.engine import LABEL_DIGEST, LABEL_NAME, Engine
from buildorch.errors import BuildorchError
from buildorch.planning.baseline import PlanResult
from buildorch.planning.digest import Record, Snapshot
from buildorch.planning.links import Links, config_links
from buildorch.running import scheduler
from buildorch.running.build import BuildOptions, BuildReport, history_warning
from buildorch.running.builder import (
    BuildResult,
    BuildSpec,
    cache_args,
    gc_local_cache,
    is_interrupted_export,
    run_build,
    trim_local_caches,
)
from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Step,
    Warned,
)
from buildorch.running.smoke import check_built
from buildorch.running.strategy import (
    BuilderInfo,
    CachePlan,
    ParentPlan,
    cache_plan,
    parent_plan,
)

MAX_TRIES = 3


def _weights(history: list[dict[str, object]]) -> dict[str, float]:
    """Median of the last ten build durations per image: the scheduler's path weights."""
    durations: dict[str, list[float]] = {}
    for h in history:
        d = h.get("duration_s")
        if h.get("result") == "built" and isinstance(d, int | float):
            durations.setdefault(str(h.get("image")), []).append(float(d))
    return {n: statistics.median(v[-10:]) for n, v in durations.items()}


def spec_for(cfg: Config, name: str, record: Record, opts: BuildOptions, *,
             cache: CachePlan | None = None, builder: BuilderInfo | None = None) -> BuildSpec:
    """The build of one image. `cache` and `builder` come from the run's capabilities; without
    them, the docker driver of a containerd-store engine is assumed."""
    image = cfg.images[name]
    builder = builder or DEFAULT_BUILDER
    cache = cache or cache_plan(cfg.cache_from, cfg.cache_to, opts.cache_to, builder)
    local_dir = cfg.state_dir / "cache" / name
    in_actions = os.environ.get("GITHUB_ACTIONS") == "true" and \
        bool(os.environ.get("ACTIONS_RUNTIME_TOKEN"))
    cache_from, cache_to = cache_args(
        cache.sources, cache.sinks, name=name, ref=cfg.ref(name),
        repository=cfg.repository(name) if cfg.registry else None,
        local_dir=local_dir, in_actions=in_actions)
    return BuildSpec(
        name=name,
        tags=cfg.refs(name),
        dockerfile=cfg.root / image.dockerfile,
        context=cfg.root / image.context,
        target=image.target,
        platform=image.platform or cfg.platform,
        build_args=tuple({**dict(image.args), "BUILDKIT_INLINE_CACHE": "1"}.items()),
        labels=(*image.labels, (LABEL_NAME, name), (LABEL_DIGEST, record.digest)),
        cache_from=cache_from,
        # BUILDKIT_INLINE_CACHE=1 is the inline cache (with --cache-to type=inline as well,
        # BuildKit refuses: "duplicate cache exports [inline]")
        cache_to=tuple(c for c in cache_to if c != "type=inline"),
        push=opts.push,
        builder=builder.buildx_builder,
        docker_context=builder.docker_context,
        metadata_file=cfg.state_dir / "meta" / f"{name}.json",
    )


DEFAULT_BUILDER = BuilderInfo("default", "docker", "", current=True, image_store="containerd")


def reuse_ref(cfg: Config, name: str, digest: str) -> str:
    """The tag that names exactly these inputs: whoever built them, anywhere, pushed it."""
    return f"{cfg.repository(name)}:bo-{digest[:12]}"


def _builder_name(cfg: Config, name: str) -> str | None:
    """The `builder` of the image's tier (None: the current builder)."""
    return cfg.tiers[cfg.images[name].tier].builder


@dataclass(frozen=True)
class Strategy:
    """What this run's builders can do: each tier's builder and cache plan, and the parents
    that travel through the registry. Decided before anything starts."""

    caps: Capabilities
    cache: dict[str, CachePlan]          # tier -> its cache plan
    parents: ParentPlan
    notes: tuple[str, ...]

    def builder(self, cfg: Config, name: str) -> BuilderInfo:
        return self.caps.builder(_builder_name(cfg, name))


def plan_strategy(cfg: Config, opts: BuildOptions, caps: Capabilities, snap: Snapshot,
                  stale: set[str]) -> Strategy:
    """Raises BuildorchError (one line, naming the tier) for what cannot work."""
    tiers = sorted({cfg.images[n].tier for n in stale})
    cache: dict[str, CachePlan] = {}
    notes: list[str] = []
    for t in tiers:
        b = caps.builder(cfg.tiers[t].builder)
        if not b.reachable:
            raise BuildorchError(f"[tiers.{t}]: {b.problem}")
        cache[t] = cache_plan(cfg.cache_from, cfg.cache_to, opts.cache_to, b,
                              where=f" ([tiers.{t}])")
        notes.extend(n for n in cache[t].notes if n not in notes)
    parents = {n: tuple(snap.graph.parents(n)) for n in stale}
    builder_of = {n: caps.builder(_builder_name(cfg, n))
                  for n in {*stale, *(p for ps in parents.values() for p in ps)}}
    pp = parent_plan(stale, parents, builder_of, registry=cfg.registry)
    return Strategy(caps, cache, pp, tuple(notes))


@dataclass
class _Run:
    """One build run: the state shared by the per-image build functions (worker threads).

    `emit` is the run's one sink: every event (the scheduler's, the builder's, this module's)
    passes through it, is folded into the report, ends an image's history line when it ends the
    image, and only then reaches the renderer."""

    cfg: Config
    opts: BuildOptions
    engine: Engine
    snap: Snapshot
    report: BuildReport
    out: Callable[[Event], None]
    strategy: Strategy
    guard: Callable[[Tier], str | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    entries: dict[str, dict[str, object]] = field(default_factory=dict)
    engine_gone: threading.Event = field(default_factory=threading.Event)
    pushed: dict[str, str] = field(default_factory=dict)   # image -> digest in the registry
    push_lock: threading.Lock = field(default_factory=threading.Lock)
    links: Links | None = None     # each child's FROM links (planning/links.py)

    def pushed_digest(self, name: str) -> str:
        """The registry digest of `name` as built or held here: pushed now if need be, under
        the tag of its inputs (bo-<digest>), never over the registry's {tag} that teammates
        and CI pull (unless the run is a --push)."""
        with self.push_lock:
            if name not in self.pushed:
                cfg = self.cfg
                ref = reuse_ref(cfg, name, self.snap.records[name].digest)
                self.engine.tag(cfg.ref(name), ref)
                self.pushed[name] = self.engine.push(ref)
            return self.pushed[name]

    def pinned(self, spec: BuildSpec) -> BuildSpec:
        """A child reads exactly the parent just built, by every name its FROM lines use for
        it. On another builder (or of a parent built elsewhere) each name is bound to the
        parent's digest in the registry; on the same engine, a FROM that is not one of the
        parent's own tags (another registry, another tag) is bound to the parent's tag."""
        cfg = self.cfg
        links = self.links.links.get(spec.name, ()) if self.links else ()
        remote = self.strategy.parents.pins.get(spec.name, ())
        contexts: dict[str, tuple[str, str]] = {}   # BuildKit's lookup key -> (name, source)
        for p in remote:
            source = f"docker-image://{cfg.repository(p)}@{self.pushed_digest(p)}"
            for ref in (*cfg.refs(p), *(k.ref for k in links if k.parent == p)):
                contexts.setdefault(context_key(ref), (ref, source))
        for k in links:
            if not k.exact and k.parent not in remote:
                contexts.setdefault(context_key(k.ref),
                                    (k.ref, f"docker-image://{cfg.ref(k.parent)}"))
        return replace(spec, build_contexts=tuple(contexts.values())) if contexts else spec

    def tag_all(self, name: str) -> None:
        """An image brought into this engine under its first tag: its other tags too."""
        first, *others = self.cfg.refs(name)
        for ref in others:
            self.engine.tag(first, ref)

    def emit(self, e: Event) -> None:
        self.report.apply(e)
        if isinstance(e, Finished | Failed):
            self._history(e)
        self.out(e)

    def _history(self, e: Finished | Failed) -> None:
        with self.lock:
            entry = self.entries.pop(e.image, None)
        if entry is None:   # e.g. the scheduler's Failed for a build function that raised
            image = self.cfg.images.get(e.image)
            record = self.snap.records.get(e.image)
            entry = {"image": e.image, "tier": image.tier if image else "",
                     "digest": record.digest if record else "",
                     "start": round(e.time - e.duration_s, 3)}
        entry.setdefault("duration_s", round(e.duration_s, 3))
        if isinstance(e, Finished):
            entry.setdefault("steps", e.steps)
            entry.setdefault("cached_steps", e.cached_steps)
            entry["result"] = "reused" if e.reused else "built"
        else:
            entry["result"] = "cancelled" if e.cause == "cancelled" else "failed"
            entry["reason"] = e.reason
            if e.cause == "engine":
                entry["cause"] = "engine"
        try:
            state.append_history(self.cfg.state_dir, entry)
        except OSError as exc:
            w = history_warning(self.cfg, e.image, exc)
            self.report.apply(w)
            self.out(w)

    def build_one(self, job: scheduler.Job, cancel: threading.Event) -> scheduler.Outcome:
        cfg, record = self.cfg, self.snap.records[job.name]
        tier = cfg.tiers[job.tier]
        entry: dict[str, object] = {"image": job.name, "tier": job.tier,
                                    "digest": record.digest, "start": time.time()}
        with self.lock:
            self.entries[job.name] = entry
        if self.engine_gone.is_set():
            return self._failed(job.name, f"not started: {self.report.engine_gone}", 0.0,
                                cause="engine")
        if self.guard is not None:
            try:
                note = self.guard(tier)
            except BuildorchError as exc:
                return self._failed(job.name, str(exc), 0.0)
            if note:
                self.emit(Step(job.name, name=f"disk guard: {note}", started=None,
                               completed=time.time(), cached=False, error=None))
        if self._reuse(job.name, record, entry):
            return scheduler.Outcome(True)
        builder = self.strategy.builder(cfg, job.name)
        cache = self.strategy.cache[job.tier]
        parents = self.strategy.parents
        spec = spec_for(cfg, job.name, record, self.opts, cache=cache, builder=builder)
        if cfg.registry and "registry" in (self.opts.cache_to or cfg.cache_to):
            spec = replace(spec, tags=(*spec.tags, reuse_ref(cfg, job.name, record.digest)))
        if job.name in parents.built_remotely and not spec.push:
            # Its store is not this engine's: the registry carries it here and to its children,
            # under the tag of its inputs; this engine tags it {tag} when it pulls it.
            spec = replace(spec, push=True, tags=(reuse_ref(cfg, job.name, record.digest),))
        try:
            spec = self.pinned(spec)
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
                             f"({_short(res.reason)}): building {job.name} again without "
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
            self._bring_here(job.name, spec, res)
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
            self._publish(job.name, spec)
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

    def _bring_here(self, name: str, spec: BuildSpec, res: BuildResult) -> None:
        """An image built away (another engine, a container builder) into this engine: pulled
        by the digest buildx pushed, tagged {tag}."""
        cfg = self.cfg
        if spec.push and res.image_id:
            with self.push_lock:
                self.pushed[name] = res.image_id   # --push: the metadata's manifest digest
        if name in self.strategy.parents.built_remotely:
            if not res.image_id:
                raise BuildorchError(f"built on {self.strategy.builder(cfg, name).describe()} "
                                     "but buildx reported no pushed digest")
            self.engine.pull_digest(cfg.repository(name), res.image_id, cfg.ref(name))
            self.tag_all(name)

    def _publish(self, name: str, spec: BuildSpec) -> None:
        """After its smoke check: what a child on another builder reads (a failed push fails
        the image: its children could not be pinned to it)."""
        if name in self.strategy.parents.push_after_build and not spec.push:
            self.pushed_digest(name)

    def _housekeeping(self, name: str, spec: BuildSpec) -> None:
        """After a good build: best-effort. A failure here is a warning, never a failed image."""
        cfg = self.cfg
        if len(spec.tags) > 1 and not spec.push:
            try:
                self.engine.push(spec.tags[-1])   # so that teammates and CI can reuse it
            except Exception as exc:
                self.emit(Warned(name, f"push of {spec.tags[-1]} failed ({_short(str(exc))}): "
                                 "teammates and CI cannot reuse this build; check the registry "
                                 f"{cfg.registry}"))
        try:
            gc_local_cache(cfg.state_dir / "cache" / name)
            with self.lock:   # one trimmer at a time: they walk the same folders
                trim_local_caches(cfg.state_dir / "cache", cfg.local_cache_max, keep=name)
        except Exception as exc:
            self.emit(Warned(name, f"local cache housekeeping skipped ({_short(str(exc))}); "
                             "the image is built"))

    def _reuse(self, name: str, record: Record, entry: dict[str, object]) -> bool:
        """A teammate or CI already built these exact inputs: pull and retag, don't build."""
        cfg = self.cfg
        if not cfg.registry or self.opts.no_reuse or self.opts.push:
            return False
        src = reuse_ref(cfg, name, record.digest)
        t = time.monotonic()
        if not self.engine.registry_has(src):
            return False
        try:
            image_id = self.engine.pull_as(src, cfg.ref(name))
            self.tag_all(name)
        except Exception as exc:  # a failed pull only costs a build
            self.emit(Warned(name, f"pull of {src} failed ({_short(str(exc))}); building it"))
            return False
        took = time.monotonic() - t
        state.record_built(cfg.state_dir, name, record, image_id)
        entry.update({"duration_s": round(took, 3), "steps": 0, "cached_steps": 0,
                      "reused_from": src})
        self.emit(Finished(name, duration_s=took, steps=0, cached_steps=0, image_id=image_id,
                           reused=True))
        return True

    def _failed(self, name: str, reason: str, duration: float, *, cause: str = "build",
                tail: tuple[str, ...] = ()) -> scheduler.Outcome:
        self.emit(Failed(name, reason=reason, duration_s=duration,
                         log_tail=() if cause != "build" else tail, cause=cause))
        return scheduler.Outcome(False, reason)


def _short(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def execute(cfg: Config, opts: BuildOptions, engine: Engine, result: PlanResult,
            report: BuildReport, emit: Callable[[Event], None], cancel: threading.Event,
            guard: Callable[[Tier], str | None] | None) -> None:
    """Build the stale images of `result` (there are some): capabilities, strategy, then the
    scheduler over the builder; every event folded into `report` on its way to `emit`."""
    snap = result.snapshot
    stale = {s.name for s in result.plan.stale}
    if guard is None:
        from buildorch.ops.disk import DiskGuard

        guard = DiskGuard(engine).check
    involved = {*stale, *(p for n in stale for p in snap.graph.parents(n))}
    caps = detect(engine, {_builder_name(cfg, n) for n in involved})
    strategy = plan_strategy(cfg, opts, caps, snap, stale)
    report.notes = (*report.notes, *strategy.notes)
    if opts.warm:
        _warm(engine, cfg, stale)
    jobs = [scheduler.Job(s.name, s.tier,
                          tuple(p for p in snap.graph.parents(s.name) if p in stale))
            for s in result.plan.stale]
    limits = scheduler.Limits(
        jobs=opts.jobs or cfg.jobs,
        tier_max_parallel={t.name: t.max_parallel for t in cfg.tiers.values()
                           if t.max_parallel})
    runner = _Run(cfg, opts, engine, snap, report, emit, strategy, guard,
                  links=config_links(cfg, {n: i.external_images for n, i in snap.inputs.items()}))
    with proc.cancel_on_signals(cancel):
        run = scheduler.run(jobs, runner.build_one, limits, emit=runner.emit,
                            cancel=cancel, fail_fast=opts.fail_fast,
                            weights=_weights(state.read_history(cfg.state_dir)))
    if run.cancelled:
        report.cancelled = True
        from buildorch.ops.disk import clean

        # Only buildorch's own leftovers (by label): never anyone else's things.
        report.cleanup = "emergency cleanup: " + clean(engine, "emergency").summary()


def _interruptible_sleep(cancel: threading.Event, seconds: float) -> None:
    cancel.wait(seconds)


def _warm(engine: Engine, cfg: Config, names: set[str]) -> None:
    """Cache warming (seed: pre-pull existing images): failures only cost cache hits."""
    for n in names:
        with contextlib.suppress(Exception):
            engine.client.images.pull(cfg.ref(n))
