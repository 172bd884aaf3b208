"""`drain` (what watch sets when an edit arrives during a round): nothing more starts, what runs
finishes and counts as done, the rest is skipped with the reason watch reads."""

from __future__ import annotations

import threading

from buildorch.running.events import Event, Skipped
from buildorch.running.scheduler import DRAINED, Job, Limits, Outcome, run

WAIT_S = 10.0


def test_drain_lets_running_builds_finish_and_starts_nothing_more() -> None:
    drain = threading.Event()
    cancel = threading.Event()
    a_running = threading.Event()
    release = threading.Event()
    built: list[str] = []
    events: list[Event] = []

    def build(job: Job, cancel: threading.Event) -> Outcome:
        if job.name == "a":
            a_running.set()
            assert release.wait(WAIT_S)
        built.append(job.name)
        return Outcome(ok=True)

    jobs = [Job("a", "t"), Job("child", "t", ("a",)), Job("b", "t")]

    def drain_when_a_runs() -> None:
        assert a_running.wait(WAIT_S)
        drain.set()
        release.set()

    threading.Thread(target=drain_when_a_runs).start()
    # one slot: a runs alone; b and child wait, then are never started
    result = run(jobs, build, Limits(jobs=1), emit=events.append, cancel=cancel, drain=drain)
    assert built == ["a"] and result.succeeded == ("a",)
    assert sorted(result.skipped) == ["b", "child"] and not result.cancelled
    skipped = {e.image: e.reason for e in events if isinstance(e, Skipped)}
    assert skipped == {"b": DRAINED, "child": DRAINED}
    assert not cancel.is_set()


def test_without_drain_everything_runs() -> None:
    built: list[str] = []

    def build(job: Job, cancel: threading.Event) -> Outcome:
        built.append(job.name)
        return Outcome(ok=True)

    result = run([Job("a", "t"), Job("b", "t", ("a",))], build, Limits(jobs=1),
                 emit=lambda e: None, cancel=threading.Event(), drain=threading.Event())
    assert built == ["a", "b"] and result.skipped == ()
