"""What happens during a build, as typed events.

The scheduler and the builder emit these; the renderers (rich live, plain lines, JSON lines) and
the analytics consume them. Nothing here prints. ``to_json`` gives a stable, flat object: the keys
``event``, ``image`` and ``time`` first, then the event's own fields in declaration order.
"""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass, field, fields
from typing import ClassVar


@dataclass(frozen=True)
class _EventBase:
    KIND: ClassVar[str] = ""

    image: str
    # kw_only so that subclasses can declare required fields after it and every event can be
    # built positionally without a time; tests and replays pass it explicitly.
    time: float = field(default_factory=_time.time, kw_only=True)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.KIND, "image": self.image, "time": self.time}
        for f in fields(self):
            if f.name not in out:
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Queued(_EventBase):
    KIND: ClassVar[str] = "queued"

    tier: str


@dataclass(frozen=True)
class Started(_EventBase):
    KIND: ClassVar[str] = "started"

    tier: str


@dataclass(frozen=True)
class Step(_EventBase):
    """One BuildKit vertex; ``started``/``completed`` are engine timestamps, None until known."""

    KIND: ClassVar[str] = "step"

    name: str
    started: float | None
    completed: float | None
    cached: bool
    error: str | None


@dataclass(frozen=True)
class Finished(_EventBase):
    """Built (or ``reused``: the engine already had an image with this digest)."""

    KIND: ClassVar[str] = "finished"

    duration_s: float
    steps: int
    cached_steps: int
    image_id: str | None
    reused: bool = False


@dataclass(frozen=True)
class Failed(_EventBase):
    """Not built. ``cause``: ``build`` (the build itself failed, or buildorch did while
    building it), ``cancelled`` (^C/SIGTERM stopped it) or ``engine`` (the Docker engine stopped
    answering: interrupted, not a build error)."""

    KIND: ClassVar[str] = "failed"

    reason: str
    duration_s: float
    log_tail: tuple[str, ...] = ()
    cause: str = "build"


@dataclass(frozen=True)
class SmokeStarted(_EventBase):
    """The image built; its smoke check starts (`check`: "healthcheck" or the command)."""

    KIND: ClassVar[str] = "smoke-started"

    check: str


@dataclass(frozen=True)
class SmokeFinished(_EventBase):
    """The smoke check's end. ``outcome``: passed | failed | timeout | cancelled. A check that
    did not pass is followed by the image's ``failed`` event (reason "smoke check failed: …")."""

    KIND: ClassVar[str] = "smoke-finished"

    outcome: str
    duration_s: float
    reason: str = ""
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped(_EventBase):
    """Not built: a parent failed or was skipped, fail-fast, or the run was cancelled."""

    KIND: ClassVar[str] = "skipped"

    reason: str


@dataclass(frozen=True)
class UpToDate(_EventBase):
    KIND: ClassVar[str] = "up-to-date"


@dataclass(frozen=True)
class Warned(_EventBase):
    """Something the run did not need but the user should know, said once, as it happens: a
    cache import or export that failed (with its reason), a `bo-<digest>` push that failed,
    housekeeping that could not run, a recovery buildorch made. ``image`` is "" for the run."""

    KIND: ClassVar[str] = "warning"

    message: str


Event = (Queued | Started | Step | Finished | Failed | SmokeStarted | SmokeFinished | Skipped
         | UpToDate | Warned)

EVENT_TYPES: tuple[type[Event], ...] = (Queued, Started, Step, Finished, Failed, SmokeStarted,
                                        SmokeFinished, Skipped, UpToDate, Warned)


_STEP_RE = re.compile(r"^\[(?:[^\]]*\s)?\d+/\d+\]\s+(?!FROM\b)")


def is_dockerfile_step(name: str) -> bool:
    """A vertex for a Dockerfile instruction (not FROM, not [internal], not an export)."""
    return bool(_STEP_RE.match(name))


def one_line(text: str, limit: int = 300) -> str:
    """An error's text inside an event's message: one line, at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
