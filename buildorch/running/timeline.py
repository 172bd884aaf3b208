"""A run's timeline, folded from its events alone (`--timings`, `--trace`): per image, when it
waited for a parent, queued for a job slot, built and ran its smoke check, with its BuildKit
steps; the job slot it ran in; the critical path; concurrency over time. Pure: the renderers
(render/timings.py, render/trace.py) draw it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Planned,
    Queued,
    Skipped,
    SmokeFinished,
    SmokeStarted,
    Started,
    Step,
    is_dockerfile_step,
)

# What a bar's colour says, in the order a legend lists them.
OUTCOMES = ("built", "reused", "failed", "cancelled", "interrupted", "skipped", "unfinished")
PHASES = ("waiting", "queued", "building", "smoke")
_OUTCOME_OF_CAUSE = {"build": "failed", "cancelled": "cancelled", "engine": "interrupted"}


@dataclass(frozen=True)
class StepSpan:
    """One BuildKit vertex, in seconds since the run's start (engine timestamps)."""

    name: str
    start: float
    end: float
    cached: bool
    error: bool


@dataclass(frozen=True)
class ImageSpan:
    """One image, in seconds since the run's start. `ready`: its last parent in the run ended
    (the run's start when none); `started` .. `ended`: it held a job slot; `build_end`: its
    build (or pull) ended and its smoke check began (== `ended` without a check). A skipped
    image has no `started` and ends when it was skipped."""

    name: str
    tier: str
    parents: tuple[str, ...]
    outcome: str
    queued: float
    ready: float
    started: float | None
    build_end: float | None
    ended: float
    slot: int | None
    steps: tuple[StepSpan, ...]
    step_count: int
    cached_steps: int
    reason: str

    def phases(self) -> list[tuple[str, float, float]]:
        """(phase, start, end) of the phases this image went through, in order, none empty."""
        out: list[tuple[str, float, float]] = []
        start = self.started if self.started is not None else self.ended
        for phase, a, b in (("waiting", self.queued, min(self.ready, start)),
                            ("queued", min(self.ready, start), start)):
            if b > a:
                out.append((phase, a, b))
        if self.started is not None:
            build_end = self.build_end if self.build_end is not None else self.ended
            out.append(("building", self.started, build_end))
            if self.ended > build_end:
                out.append(("smoke", build_end, self.ended))
        return out

    def duration(self, phase: str) -> float:
        return sum(b - a for p, a, b in self.phases() if p == phase)


@dataclass(frozen=True)
class Timeline:
    start: float          # Unix time of the run's first event
    wall_s: float         # seconds from the first event to the last image's end
    jobs: int
    images: tuple[ImageSpan, ...]     # in the order they started (skipped last)
    critical: tuple[str, ...]         # parents first

    def concurrency(self) -> list[tuple[float, int]]:
        """(time, images holding a job slot from then on), at each change."""
        marks: list[tuple[float, int]] = []
        for i in self.images:
            if i.started is not None:
                marks += [(i.started, 1), (i.ended, -1)]
        out: list[tuple[float, int]] = [(0.0, 0)]
        n = 0
        for t, d in sorted(marks):
            n += d
            if out[-1][0] == t:
                out[-1] = (t, n)
            else:
                out.append((t, n))
        # An image ending as the next one starts is no change worth a point.
        return [p for i, p in enumerate(out) if i == 0 or p[1] != out[i - 1][1]]

    def totals(self) -> dict[str, float]:
        """The run's totals: its wall time, each phase's sum over images, and the counts."""
        out: dict[str, float] = {"wall_s": self.wall_s}
        for phase in PHASES:
            out[f"{phase}_s"] = sum(i.duration(phase) for i in self.images)
        for outcome in OUTCOMES:
            out[outcome] = sum(1 for i in self.images if i.outcome == outcome)
        out["steps"] = sum(i.step_count for i in self.images)
        out["cached_steps"] = sum(i.cached_steps for i in self.images)
        out["critical_s"] = sum(i.ended - (i.started if i.started is not None else i.ended)
                                for i in self.images if i.name in self.critical)
        return out


class _Acc:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tier = ""
        self.queued: float | None = None
        self.started: float | None = None
        self.build_end: float | None = None
        self.ended: float | None = None
        self.outcome = "unfinished"
        self.steps: list[Step] = []
        self.reason = ""
        self.counts: tuple[int, int] | None = None


def fold(events: Iterable[Event], *, now: float | None = None) -> Timeline:
    """The timeline of `events` (one run's, in the order emitted). An image still running
    (a cut-off stream) ends at `now` (default: the last event's time) as "unfinished"."""
    images: dict[str, _Acc] = {}
    parents: Mapping[str, tuple[str, ...]] = {}
    jobs = 0
    t0: float | None = None
    last = 0.0
    for e in events:
        t0 = e.time if t0 is None else min(t0, e.time)
        last = max(last, e.time)
        if isinstance(e, Planned):
            parents, jobs = e.parents, e.jobs
            continue
        if not e.image:
            continue
        acc = images.get(e.image)
        if acc is None:
            if not isinstance(e, Queued):
                continue   # up to date, or not an image of this run
            acc = images[e.image] = _Acc(e.image)
        if isinstance(e, Queued):
            acc.tier, acc.queued = e.tier, e.time
        elif isinstance(e, Started):
            acc.tier, acc.started = e.tier, e.time
        elif isinstance(e, Step):
            acc.steps.append(e)
        elif isinstance(e, SmokeStarted):
            acc.build_end = e.time
        elif isinstance(e, SmokeFinished):
            pass
        elif isinstance(e, Finished):
            acc.ended, acc.outcome = e.time, "reused" if e.reused else "built"
            acc.counts = (e.steps, e.cached_steps)
        elif isinstance(e, Failed):
            acc.ended, acc.outcome = e.time, _OUTCOME_OF_CAUSE.get(e.cause, "failed")
            acc.reason = e.reason
        elif isinstance(e, Skipped):
            acc.ended, acc.outcome, acc.reason = e.time, "skipped", e.reason
    start = t0 if t0 is not None else 0.0
    end = now if now is not None else last

    def rel(t: float) -> float:
        return round(t - start, 6)

    ended = {n: rel(a.ended if a.ended is not None else end) for n, a in images.items()}
    spans: list[ImageSpan] = []
    for n, a in images.items():
        ps = tuple(p for p in parents.get(n, ()) if p in images)
        queued = rel(a.queued if a.queued is not None else start)
        ready = max([queued, *(ended[p] for p in ps)])
        steps = tuple(_step(s, rel, ended[n]) for s in a.steps
                      if s.completed is not None or s.cached)
        counted = [s for s in a.steps if is_dockerfile_step(s.name) and not s.error]
        counts = a.counts or (len(counted), sum(1 for s in counted if s.cached))
        spans.append(ImageSpan(
            name=n, tier=a.tier, parents=ps, outcome=a.outcome, queued=queued, ready=ready,
            started=None if a.started is None else rel(a.started),
            build_end=None if a.build_end is None else rel(a.build_end),
            ended=ended[n], slot=None, steps=steps, step_count=counts[0],
            cached_steps=counts[1], reason=a.reason))
    spans.sort(key=lambda s: (s.started is None,
                              s.started if s.started is not None else s.ended, s.name))
    spans = _slots(spans)
    wall = max([0.0, *(s.ended for s in spans)])
    return Timeline(start, wall, jobs or max([1, *(s.slot or 0 for s in spans)]),
                    tuple(spans), _critical(spans))


def _step(s: Step, rel: Callable[[float], float], image_end: float) -> StepSpan:
    started = s.started if s.started is not None else s.completed
    completed = s.completed if s.completed is not None else started
    a = rel(started) if started is not None else rel(s.time)
    b = rel(completed) if completed is not None else a
    return StepSpan(s.name, min(a, image_end), min(max(a, b), image_end), s.cached,
                    s.error is not None)


def _slots(spans: list[ImageSpan]) -> list[ImageSpan]:
    """The job slot each image ran in: the lowest free one when it started (the scheduler
    never runs more than `jobs` at once, so this needs no more slots than that)."""
    free_at: list[float] = []
    out: list[ImageSpan] = []
    for s in spans:
        if s.started is None:
            out.append(s)
            continue
        slot = next((i for i, t in enumerate(free_at) if t <= s.started), len(free_at))
        if slot == len(free_at):
            free_at.append(s.ended)
        else:
            free_at[slot] = s.ended
        out.append(replace(s, slot=slot + 1))
    return out


def _critical(spans: list[ImageSpan]) -> tuple[str, ...]:
    """What held the run back, along its dependencies: from the image that ended last, back
    through the parent that ended last (the one it waited for) to an image with none."""
    by = {s.name: s for s in spans}
    ran = [s for s in spans if s.started is not None]
    if not ran:
        return ()
    path = [max(ran, key=lambda s: s.ended).name]
    while True:
        ps = [by[p] for p in by[path[-1]].parents if by[p].started is not None]
        if not ps:
            break
        path.append(max(ps, key=lambda s: s.ended).name)
    return tuple(reversed(path))
