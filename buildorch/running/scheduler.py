"""One ready-queue over the image DAG: bounded parallel builds, tier limits, critical path first.

There are no tier barriers: an image starts as soon as its parents in this run have succeeded and
both the global ``jobs`` bound and its tier's ``max_parallel`` allow it. A single thread pool runs
the builds and only the calling thread decides what starts, so no worker ever waits for another
worker's slot (the nested-pool deadlock of compose v1). The build itself is passed in; this module
does no I/O and emits only Queued, Started, Skipped, and Failed when a build function raised.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from buildorch.errors import BuildorchError
from buildorch.planning.graph import topological_order
from buildorch.running.events import Event, Failed, Queued, Skipped, Started

# How often the main loop looks at the cancel flag while builds run.
_POLL_S = 0.1
_TRACEBACK_LINES = 20


@dataclass(frozen=True)
class Job:
    name: str
    tier: str
    # Only parents that are also in this run; parents outside the run are taken as done.
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    jobs: int
    tier_max_parallel: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A zero limit would leave ready jobs waiting forever; refuse it up front.
        if self.jobs < 1:
            raise BuildorchError(f"jobs must be at least 1, got {self.jobs}")
        for tier, limit in self.tier_max_parallel.items():
            if limit < 1:
                raise BuildorchError(f"[tiers.{tier}] max_parallel must be at least 1, got {limit}")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str = ""


BuildFn = Callable[[Job, threading.Event], Outcome]


@dataclass(frozen=True)
class RunResult:
    succeeded: tuple[str, ...]  # in completion order
    failed: tuple[str, ...]  # in completion order
    skipped: tuple[str, ...]  # in the order they were skipped
    cancelled: bool


def order(jobs: Sequence[Job]) -> list[str]:
    """Parents before children; otherwise the order the jobs were given in (stable)."""
    _index(jobs)   # refuses a job listed twice
    out, cycle = topological_order([j.name for j in jobs], {j.name: j.parents for j in jobs})
    if cycle:
        raise BuildorchError(
            f"dependency cycle: {cycle} "
            "(each image depends on the next): remove one of these dependencies"
        )
    return out


def critical_path(jobs: Sequence[Job], weights: Mapping[str, float]) -> dict[str, float]:
    """Each job's weight plus the heaviest chain of its descendants (missing weight: 1.0)."""
    index = _index(jobs)
    children = _children(jobs, index)
    cp: dict[str, float] = {}
    for name in reversed(order(jobs)):
        cp[name] = weights.get(name, 1.0) + max((cp[c] for c in children[name]), default=0.0)
    return cp


def run(
    jobs: Sequence[Job],
    build: BuildFn,
    limits: Limits,
    *,
    emit: Callable[[Event], None],
    cancel: threading.Event,
    fail_fast: bool = False,
    weights: Mapping[str, float] | None = None,
) -> RunResult:
    """Build every job once its parents succeeded; see the module docstring.

    ``emit`` is only called from this thread. If this thread is interrupted (an exception or
    KeyboardInterrupt escapes the loop) ``cancel`` is set so running builds stop and the pool
    can shut down, then the exception propagates.
    """
    state = _Ledger(jobs, limits, emit, weights or {})
    for name in state.topo:
        emit(Queued(name, state.jobs[name].tier))
    if not jobs:
        return RunResult((), (), (), cancel.is_set())
    with ThreadPoolExecutor(max_workers=limits.jobs, thread_name_prefix="buildorch") as pool:
        running: dict[Future[Outcome], str] = {}
        done: set[Future[Outcome]] = set()
        try:
            while True:
                # Builds that end because of cancel usually fail: skip the unstarted as
                # cancelled first, so they don't read as dependents of those failures.
                if cancel.is_set():
                    state.skip_unstarted("cancelled")
                for fut in sorted(done, key=lambda f: state.rank[running[f]]):
                    state.finish(running.pop(fut), fut)
                stop = _stop_reason(state, cancel, fail_fast)
                if stop:
                    state.skip_unstarted(stop)
                else:
                    for name in state.startable():
                        running[pool.submit(build, state.jobs[name], cancel)] = name
                if not running:
                    break
                done, _ = wait(running, timeout=_POLL_S, return_when=FIRST_COMPLETED)
        except BaseException:
            cancel.set()
            raise
    # The loop ends only when nothing runs and nothing can start: every job has ended somehow.
    assert len(state.succeeded) + len(state.failed) + len(state.skipped) == len(state.jobs)
    return RunResult(
        tuple(state.succeeded), tuple(state.failed), tuple(state.skipped), cancel.is_set()
    )


def _stop_reason(state: _Ledger, cancel: threading.Event, fail_fast: bool) -> str:
    if cancel.is_set():
        return "cancelled"
    if fail_fast and state.failed:
        return f"fail-fast after {state.failed[0]} failed"
    return ""


class _Ledger:
    """The bookkeeping of one run; touched only by the thread that called ``run``."""

    def __init__(
        self,
        jobs: Sequence[Job],
        limits: Limits,
        emit: Callable[[Event], None],
        weights: Mapping[str, float],
    ) -> None:
        self.topo = order(jobs)
        self.rank = {name: i for i, name in enumerate(self.topo)}
        self.jobs = {j.name: j for j in jobs}
        self.children = _children(jobs, _index(jobs))
        self.cp = critical_path(jobs, weights)
        self.limits = limits
        self.emit = emit
        self.waiting = {j.name: len({p for p in j.parents if p in self.jobs}) for j in jobs}
        self.ready = [name for name in self.topo if self.waiting[name] == 0]
        self.started_at: dict[str, float] = {}
        self.running = 0
        self.tier_running: Counter[str] = Counter()
        self.succeeded: list[str] = []
        self.failed: list[str] = []
        self.skipped: list[str] = []
        self.done: set[str] = set()  # finished one way or another, skipped included

    def startable(self) -> Iterator[str]:
        """Yield every ready job the limits allow, longest critical path first, marking each
        started. A job held back by its tier's limit stays ready without holding back others.
        """
        self.ready.sort(key=lambda n: (-self.cp[n], self.rank[n]))
        for name in list(self.ready):
            if self.running >= self.limits.jobs:
                break
            tier = self.jobs[name].tier
            if self.tier_running[tier] >= self.limits.tier_max_parallel.get(tier, self.limits.jobs):
                continue
            self.ready.remove(name)
            self.running += 1
            self.tier_running[tier] += 1
            self.started_at[name] = time.monotonic()
            self.emit(Started(name, tier))
            yield name

    def finish(self, name: str, fut: Future[Outcome]) -> None:
        self.done.add(name)
        self.running -= 1
        self.tier_running[self.jobs[name].tier] -= 1
        try:
            outcome = fut.result()
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            tail = "".join(traceback.format_exception(exc)).splitlines()[-_TRACEBACK_LINES:]
            duration = time.monotonic() - self.started_at[name]
            self.emit(Failed(name, reason, duration, tuple(tail)))
            outcome = Outcome(ok=False, reason=reason)
        if outcome.ok:
            self.succeeded.append(name)
            for child in self.children[name]:
                self.waiting[child] -= 1
                if self.waiting[child] == 0 and child not in self.done:
                    self.ready.append(child)
        else:
            self.failed.append(name)
            self._skip_descendants(name)

    def skip_unstarted(self, reason: str) -> None:
        for name in self.topo:
            if name not in self.started_at and name not in self.done:
                self._skip(name, reason)
        self.ready.clear()

    def _skip_descendants(self, failed: str) -> None:
        # Breadth-first, so each descendant names the nearest parent the failure came through.
        queue = deque((child, f"parent {failed} failed") for child in self.children[failed])
        while queue:
            name, reason = queue.popleft()
            if name in self.done:
                continue
            self._skip(name, reason)
            queue.extend(
                (child, f"parent {name} skipped ({failed} failed)")
                for child in self.children[name]
            )

    def _skip(self, name: str, reason: str) -> None:
        self.done.add(name)
        self.skipped.append(name)
        if name in self.ready:
            self.ready.remove(name)
        self.emit(Skipped(name, reason))


def _index(jobs: Sequence[Job]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, job in enumerate(jobs):
        if job.name in index:
            raise BuildorchError(f"image {job.name} is listed twice in one run")
        index[job.name] = i
    return index


def _children(jobs: Sequence[Job], index: Mapping[str, int]) -> dict[str, list[str]]:
    """In-run children of each job, in the order the jobs were given."""
    children: dict[str, list[str]] = {j.name: [] for j in jobs}
    for job in jobs:
        for parent in dict.fromkeys(job.parents):
            if parent in index:
                children[parent].append(job.name)
    return children
