"""The run's progress as events: `Planned` once, then `Progress` before the first build and
after every image that ends, with the ETA of `eta.py`. Sits between the pipeline and the
renderers; every event passes through unchanged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from buildorch.running.eta import estimate
from buildorch.running.events import Event, Failed, Finished, Planned, Progress, Skipped, Started
from buildorch.running.scheduler import Job, Limits


class ProgressTracker:
    """Called from the scheduler's thread and the workers' (hence the lock, which also keeps
    a `Progress` right behind the event that ended its image)."""

    def __init__(self, jobs: Sequence[Job], limits: Limits, durations: Mapping[str, float],
                 out: Callable[[Event], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = list(jobs)
        self.names = {j.name for j in jobs}
        self.limits = limits
        self.durations = durations
        self.out = out
        self.clock = clock
        self.t0 = clock()
        self.started: dict[str, float] = {}
        self.done: set[str] = set()
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            self.out(Planned("", parents={j.name: j.parents for j in self.jobs},
                             jobs=self.limits.jobs,
                             tier_limits=dict(self.limits.tier_max_parallel)))
            self._progress()

    def __call__(self, e: Event) -> None:
        with self.lock:
            self.out(e)
            if e.image not in self.names:
                return
            if isinstance(e, Started):
                self.started[e.image] = self.clock()
            elif isinstance(e, Finished | Failed | Skipped) and e.image not in self.done:
                self.done.add(e.image)
                self.started.pop(e.image, None)
                self._progress()

    def _progress(self) -> None:
        now = self.clock()
        est = estimate(self.jobs, self.limits, self.durations, done=self.done,
                       running={n: now - t for n, t in self.started.items()})
        self.out(Progress("", done=len(self.done), total=len(self.jobs),
                          elapsed_s=round(now - self.t0, 3),
                          eta_s=None if est.remaining_s is None else round(est.remaining_s, 3),
                          no_history=est.no_history))
