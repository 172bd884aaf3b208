"""Consumers of build events: rich live table, plain prefixed lines, JSON lines."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TextIO

from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Queued,
    Skipped,
    SmokeFinished,
    SmokeStarted,
    Started,
    Step,
    UpToDate,
    Warned,
)

Renderer = Callable[[Event], None]


class JsonLines:
    """One JSON object per line, flushed: other tools parse this; keep it stable."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.lock = threading.Lock()

    def __call__(self, e: Event) -> None:
        with self.lock:
            self.out.write(json.dumps(e.to_json(), separators=(",", ":")) + "\n")
            self.out.flush()


class Plain:
    """Prefixed lines for CI logs: no cursor movement, one line per thing that happened."""

    def __init__(self, out: TextIO = sys.stdout, steps: bool = True,
                 err: TextIO | None = None, names: Iterable[str] = ()) -> None:
        """`names`: every image the run may mention (the config's), so that the first line
        has the width of the last; without them the width grows as images are queued."""
        self.out = out
        self.err = err if err is not None else (sys.stderr if out is sys.stdout else out)
        self.steps = steps
        self.lock = threading.Lock()
        self.width = max([len("buildorch"), *(len(n) for n in names)])

    def _line(self, image: str, text: str, err: bool = False) -> None:
        out = self.err if err else self.out
        with self.lock:
            out.write(f"[{image:<{self.width}}] {text}\n")
            out.flush()

    def __call__(self, e: Event) -> None:
        if isinstance(e, Queued):
            self.width = max(self.width, len(e.image))
        elif isinstance(e, Started):
            self._line(e.image, f"started ({e.tier})")
        elif isinstance(e, Step) and self.steps and (e.completed or e.cached or e.error) \
                and not e.name.startswith("[internal]"):
            state = "ERROR" if e.error else "CACHED" if e.cached else "done"
            self._line(e.image, f"{state:<6} {e.name[:100]}")
        elif isinstance(e, Finished):
            how = "reused" if e.reused else f"built in {e.duration_s:.1f}s"
            self._line(e.image, f"{how} ({e.cached_steps}/{e.steps} steps cached)")
        elif isinstance(e, Failed):
            # The reason and the log tail go to stderr: errors belong there (the CLI's
            # summary table stays on stdout).
            what = {"cancelled": "CANCELLED", "engine": "INTERRUPTED"}.get(e.cause, "FAILED")
            self._line(e.image, f"{what}: {e.reason}", err=True)
            for t in e.log_tail:
                self._line(e.image, f"  | {t}", err=True)
        elif isinstance(e, SmokeStarted):
            self._line(e.image, f"smoke  {e.check}")
        elif isinstance(e, SmokeFinished) and e.outcome == "passed":
            self._line(e.image, f"smoke passed in {e.duration_s:.1f}s")
        elif isinstance(e, Warned):
            self._line(e.image or "buildorch", f"warning: {e.message}", err=True)
        elif isinstance(e, Skipped):
            self._line(e.image, f"skipped: {e.reason}")
        elif isinstance(e, UpToDate):
            self._line(e.image, "up to date")
