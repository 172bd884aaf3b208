"""A rich live table for terminals: image, tier, state, current step, cached steps, elapsed."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Queued,
    Skipped,
    SmokeStarted,
    Started,
    Step,
    UpToDate,
    Warned,
    is_dockerfile_step,
)

_STYLE = {"queued": "dim", "building": "cyan", "smoke": "magenta", "built": "green",
          "reused": "green", "failed": "bold red", "skipped": "yellow", "up to date": "dim green"}


@dataclass
class _Row:
    tier: str = ""
    state: str = "queued"
    step: str = ""
    steps: int = 0
    cached: int = 0
    started: float | None = None
    ended: float | None = None


@dataclass
class LiveTable:
    console: Console = field(default_factory=lambda: Console(stderr=False))
    rows: dict[str, _Row] = field(default_factory=dict)
    failures: list[Failed] = field(default_factory=list)
    warnings: list[Warned] = field(default_factory=list)
    errors: Console = field(default_factory=lambda: Console(stderr=True))
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: Live | None = None
    tiers: Mapping[str, str] = field(default_factory=dict)   # image -> tier, for every row

    def __enter__(self) -> LiveTable:
        self.live = Live(get_renderable=self._table, console=self.console,
                         refresh_per_second=8, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.live:
            self.live.__exit__(t, e, tb)
        # Warnings and failures go to stderr, once, after the table.
        for w in self.warnings:
            self.errors.print(f"[yellow]warning:[/] {escape(w.image) + ': ' if w.image else ''}"
                              f"{escape(w.message)}", markup=True, highlight=False)
        for f in self.failures:
            what = {"cancelled": "cancelled", "engine": "interrupted"}.get(f.cause, "failed")
            self.errors.print(f"[bold red]{f.image} {what}:[/] {escape(f.reason)}", markup=True,
                              highlight=False)
            for line in f.log_tail:
                self.errors.print(f"  [dim]|[/] {escape(line)}", markup=True, highlight=False)

    def __call__(self, e: Event) -> None:
        if isinstance(e, Warned):
            with self.lock:
                self.warnings.append(e)
            return
        with self.lock:
            row = self.rows.setdefault(e.image, _Row(self.tiers.get(e.image, "")))
            if isinstance(e, Queued):
                row.tier = e.tier
            elif isinstance(e, Started):
                row.state, row.started = "building", time.monotonic()
            elif isinstance(e, Step):
                row.step = e.name
                if (e.completed or e.cached) and is_dockerfile_step(e.name):
                    row.steps += 1
                    row.cached += e.cached
            elif isinstance(e, Finished):
                row.state = "reused" if e.reused else "built"
                row.steps, row.cached = e.steps, e.cached_steps
                row.ended, row.step = time.monotonic(), ""
            elif isinstance(e, Failed):
                row.state, row.ended = "failed", time.monotonic()
                self.failures.append(e)
            elif isinstance(e, SmokeStarted):
                row.state, row.step = "smoke", e.check
            elif isinstance(e, Skipped):
                row.state, row.step = "skipped", e.reason
            elif isinstance(e, UpToDate):
                row.state = "up to date"

    def _table(self) -> Table:
        t = Table(box=None, pad_edge=False, expand=True)
        with self.lock:
            name_w = max([5, *(len(n) for n in self.rows)])
            tier_w = max([4, *(len(r.tier) for r in self.rows.values())])
        # Fixed columns keep their width; only the step text gives way on a narrow terminal.
        for col, width in (("image", name_w), ("tier", tier_w), ("state", 10)):
            t.add_column(col, no_wrap=True, min_width=width)
        t.add_column("step", no_wrap=True, overflow="ellipsis", ratio=1)
        t.add_column("cached", no_wrap=True, min_width=6, justify="right")
        t.add_column("elapsed", no_wrap=True, min_width=7, justify="right")
        now = time.monotonic()
        with self.lock:
            for name, r in self.rows.items():
                elapsed = "" if r.started is None else f"{(r.ended or now) - r.started:5.1f}s"
                t.add_row(name, r.tier, f"[{_STYLE.get(r.state, '')}]{r.state}[/]", r.step,
                          f"{r.cached}/{r.steps}" if r.steps else "", elapsed)
        return t
