"""The rich live view's progress bar: done of total, elapsed and the ETA running down between
events; the run's own events (planned, progress) make no row."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from buildorch.render.live import LiveTable
from buildorch.running.events import Planned, Progress, Queued, Started


def text(table: LiveTable) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(table._view())
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_the_bar_says_done_elapsed_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    table = LiveTable(console=Console(file=io.StringIO()))
    table(Planned("", parents={"a": ()}, jobs=2, tier_limits={}))
    table(Queued("a", "t"))
    table(Started("a", "t"))
    assert "images" not in text(table)            # no progress yet: the table alone
    now = time.monotonic()
    monkeypatch.setattr("buildorch.render.live.time.monotonic", lambda: now)
    table(Progress("", done=3, total=15, elapsed_s=20.0, eta_s=70.0, no_history=("x",)))
    shown = text(table)
    assert "3/15 images" in shown
    assert "20.0s elapsed, ETA 1m10s (no history: x)" in shown
    assert set(table.rows) == {"a"}               # planned and progress made no row
    monkeypatch.setattr("buildorch.render.live.time.monotonic", lambda: now + 10)
    assert "30.0s elapsed, ETA 1m" in text(table)  # both clocks run between events
    table(Progress("", done=15, total=15, elapsed_s=95.0, eta_s=0.0))
    assert "15/15 images" in text(table) and "1m35s elapsed, done" in text(table)


def test_the_last_frame_ends_its_line_in_a_file_too() -> None:
    out = io.StringIO()
    with LiveTable(console=Console(file=out, width=100)) as table:
        table(Queued("a", "t"))
        table(Progress("", done=1, total=1, elapsed_s=2.0, eta_s=0.0))
    assert out.getvalue().endswith("2.0s elapsed, done\n")
