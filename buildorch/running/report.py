"""What a run did, folded from its events and nothing else."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from buildorch.planning.plan import Plan
from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Skipped,
    Step,
    UpToDate,
    Warned,
    is_dockerfile_step,
)


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
