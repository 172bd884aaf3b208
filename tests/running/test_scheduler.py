"""The scheduler with a fake build function: string nodes, a few milliseconds per build.

Overlap is proven with barriers and events, never with timing; the only timed assertions are
generous upper bounds on how long a cancelled run takes to return.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildorch.errors import BuildorchError
from buildorch.running.events import (
    EVENT_TYPES,
    Event,
    Failed,
    Finished,
    Planned,
    Progress,
    Queued,
    Retry,
    Skipped,
    SmokeFinished,
    SmokeStarted,
    Started,
    Step,
    UpToDate,
    Warned,
)
from buildorch.running.scheduler import (
    Job,
    Limits,
    Outcome,
    RunResult,
    critical_path,
    order,
    run,
)

PROPERTY = settings(max_examples=40, deadline=None)
WAIT_S = 10.0  # how long a test build waits for something that must happen; a failure, not a pause


@dataclass
class Record:
    """What the fake builds saw, under one lock: start/end sequence numbers and peak concurrency."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    start: dict[str, int] = field(default_factory=dict)
    end: dict[str, int] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    peak: int = 0
    tier_peak: dict[str, int] = field(default_factory=dict)
    overlaps: set[frozenset[str]] = field(default_factory=set)

    def begin(self, job: Job, tiers: Mapping[str, str]) -> None:
        with self.lock:
            self.start[job.name] = next(self.seq)
            for other in self.running:
                self.overlaps.add(frozenset((job.name, other)))
            self.running.add(job.name)
            self.peak = max(self.peak, len(self.running))
            in_tier = sum(1 for n in self.running if tiers[n] == job.tier)
            self.tier_peak[job.tier] = max(self.tier_peak.get(job.tier, 0), in_tier)

    def finish(self, job: Job) -> None:
        with self.lock:
            self.running.discard(job.name)
            self.end[job.name] = next(self.seq)


Hook = Callable[[Job, threading.Event], Outcome | None]  # an Outcome overrides the default


def fake_build(
    jobs: Sequence[Job],
    record: Record,
    *,
    fail: Iterable[str] = (),
    hooks: Mapping[str, Hook] | None = None,
    sleep_s: float = 0.002,
) -> Callable[[Job, threading.Event], Outcome]:
    """A build that sleeps, fails the names in ``fail``, and runs a per-job hook mid-build."""
    tiers = {j.name: j.tier for j in jobs}
    failing = set(fail)
    hooks = hooks or {}

    def build(job: Job, cancel: threading.Event) -> Outcome:
        record.begin(job, tiers)
        try:
            time.sleep(sleep_s)
            if job.name in hooks and (outcome := hooks[job.name](job, cancel)) is not None:
                return outcome
            if job.name in failing:
                return Outcome(ok=False, reason="exit 1")
            return Outcome(ok=True)
        finally:
            record.finish(job)

    return build


class Events:
    """The emit callback: keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def skip_reasons(self) -> dict[str, str]:
        return {e.image: e.reason for e in self.events if isinstance(e, Skipped)}

    def wait_for(self, pred: Callable[[Event], bool]) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(pred(e) for e in self.events), timeout=WAIT_S)


def go(
    jobs: Sequence[Job],
    build: Callable[[Job, threading.Event], Outcome],
    jobs_limit: int = 2,
    tiers: Mapping[str, int] | None = None,
    *,
    fail_fast: bool = False,
    weights: Mapping[str, float] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[RunResult, Events]:
    events = Events()
    result = run(
        jobs,
        build,
        Limits(jobs_limit, tiers or {}),
        emit=events,
        cancel=cancel or threading.Event(),
        fail_fast=fail_fast,
        weights=weights,
    )
    return result, events


def descendants(jobs: Sequence[Job], roots: Iterable[str]) -> set[str]:
    children: dict[str, list[str]] = {j.name: [] for j in jobs}
    for j in jobs:
        for p in j.parents:
            if p in children:
                children[p].append(j.name)
    out: set[str] = set()
    stack = [c for r in roots for c in children[r]]
    while stack:
        n = stack.pop()
        if n not in out:
            out.add(n)
            stack.extend(children[n])
    return out


@st.composite
def dags(draw: st.DrawFn) -> list[Job]:
    """Up to 9 jobs over 3 tiers, parents drawn from earlier jobs (so acyclic), sometimes a
    parent outside the run, then shuffled so the input order is not already topological."""
    n = draw(st.integers(1, 9))
    names = [f"n{i}" for i in range(n)]
    jobs = []
    for i, name in enumerate(names):
        parents = draw(st.lists(st.sampled_from(names[:i]), max_size=3, unique=True)) if i else []
        if draw(st.booleans()) and draw(st.booleans()):
            parents.append("outside-the-run")
        jobs.append(Job(name, draw(st.sampled_from(["base", "ml", "svc"])), tuple(parents)))
    return list(draw(st.permutations(jobs)))


limits_st = st.tuples(
    st.integers(1, 4),
    st.dictionaries(st.sampled_from(["base", "ml", "svc"]), st.integers(1, 2), max_size=3),
)


# --- order and critical path ---------------------------------------------------------------


def test_order_puts_parents_first_and_keeps_input_order_otherwise() -> None:
    jobs = [
        Job("stt", "svc", ("python-ml",)),
        Job("web", "svc", ("python-base",)),
        Job("python-ml", "ml", ("python-base",)),
        Job("python-base", "base", ("registry/external",)),
        Job("tools", "base"),
    ]
    assert order(jobs) == ["python-base", "web", "python-ml", "stt", "tools"]


@given(dags())
@PROPERTY
def test_order_is_topological(jobs: list[Job]) -> None:
    result = order(jobs)
    assert sorted(result) == sorted(j.name for j in jobs)
    pos = {name: i for i, name in enumerate(result)}
    for j in jobs:
        for p in j.parents:
            if p in pos:
                assert pos[p] < pos[j.name]


def test_cycle_is_reported_as_a_path() -> None:
    jobs = [
        Job("root", "base"),
        Job("a", "base", ("root", "c")),
        Job("b", "base", ("a",)),
        Job("c", "base", ("b",)),
        Job("leaf", "svc", ("c",)),
    ]
    with pytest.raises(BuildorchError, match=r"dependency cycle: a -> c -> b -> a \("):
        order(jobs)


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(BuildorchError, match=r"dependency cycle: a -> a "):
        order([Job("a", "base", ("a",))])


def test_cycle_fails_run_before_anything_is_queued() -> None:
    events = Events()
    with pytest.raises(BuildorchError, match="cycle"):
        run(
            [Job("a", "t", ("b",)), Job("b", "t", ("a",))],
            lambda job, cancel: Outcome(ok=True),
            Limits(1),
            emit=events,
            cancel=threading.Event(),
        )
    assert events.events == []


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(BuildorchError, match="stt is listed twice"):
        order([Job("stt", "svc"), Job("stt", "svc")])


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(BuildorchError, match="jobs must be at least 1"):
        Limits(0)
    with pytest.raises(BuildorchError, match=r"\[tiers.ml\] max_parallel"):
        Limits(2, {"ml": 0})


def test_critical_path_is_the_heaviest_chain_to_a_sink() -> None:
    jobs = [
        Job("base", "t"),
        Job("ml", "t", ("base",)),
        Job("stt", "t", ("ml",)),
        Job("web", "t", ("base",)),
        Job("lone", "t"),
    ]
    cp = critical_path(jobs, {"base": 2.0, "ml": 10.0, "web": 30.0})
    assert cp == {"stt": 1.0, "ml": 11.0, "web": 30.0, "base": 32.0, "lone": 1.0}


# --- running in order, within limits ---------------------------------------------------------


@given(dags(), limits_st)
@PROPERTY
def test_every_job_starts_after_its_parents_finished_and_all_build(
    jobs: list[Job], limits: tuple[int, dict[str, int]]
) -> None:
    record = Record()
    result, events = go(jobs, fake_build(jobs, record), limits[0], limits[1])

    assert sorted(result.succeeded) == sorted(j.name for j in jobs)
    assert result.failed == result.skipped == ()
    assert not result.cancelled
    for j in jobs:
        for p in j.parents:
            if p in record.end:
                assert record.end[p] < record.start[j.name], f"{j.name} started before {p} ended"
    assert record.peak <= limits[0]
    for tier, peak in record.tier_peak.items():
        assert peak <= limits[1].get(tier, limits[0])
    # Every job is queued up front in topological order, before anything starts.
    queued = [e.image for e in events.events[: len(jobs)] if isinstance(e, Queued)]
    assert queued == order(jobs)
    assert sorted(e.image for e in events.of(Started)) == sorted(j.name for j in jobs)


def test_global_jobs_bound_is_never_exceeded() -> None:
    jobs = [Job(f"img{i}", "svc") for i in range(8)]
    record = Record()
    result, _ = go(jobs, fake_build(jobs, record, sleep_s=0.01), jobs_limit=3)
    assert len(result.succeeded) == 8
    assert 1 <= record.peak <= 3


def test_tier_limit_serialises_its_tier_while_another_tier_runs_in_parallel() -> None:
    jobs = [Job(n, "ml") for n in ("ml1", "ml2", "ml3")] + [Job(n, "svc") for n in ("x", "y")]
    # x and y each wait at a barrier for the other: the run only succeeds if they overlap.
    barrier = threading.Barrier(2, timeout=WAIT_S)
    hooks: dict[str, Hook] = {"x": lambda j, c: _meet(barrier), "y": lambda j, c: _meet(barrier)}
    record = Record()
    result, _ = go(jobs, fake_build(jobs, record, hooks=hooks), 2, {"ml": 1})

    assert sorted(result.succeeded) == ["ml1", "ml2", "ml3", "x", "y"]
    assert record.tier_peak["ml"] == 1
    assert frozenset(("x", "y")) in record.overlaps


def test_a_job_held_by_its_tier_limit_does_not_block_other_tiers() -> None:
    # ml-long holds the only ml slot until svc has started. ml-next is ready and ranks above
    # svc, but must wait for the ml slot; with head-of-line blocking svc would wait behind it
    # and ml-long would time out.
    jobs = [Job("ml-long", "ml"), Job("ml-next", "ml"), Job("svc", "svc")]
    svc_started = threading.Event()
    hooks: dict[str, Hook] = {
        "ml-long": lambda j, c: _require(svc_started.wait(WAIT_S), "svc never started"),
        "svc": lambda j, c: svc_started.set(),
    }
    record = Record()
    result, events = go(
        jobs,
        fake_build(jobs, record, hooks=hooks),
        jobs_limit=2,
        tiers={"ml": 1},
        weights={"ml-long": 20.0, "ml-next": 10.0, "svc": 1.0},
    )
    assert sorted(result.succeeded) == ["ml-long", "ml-next", "svc"]
    assert [e.image for e in events.of(Started)] == ["ml-long", "svc", "ml-next"]
    assert record.start["svc"] < record.end["ml-long"] < record.start["ml-next"]


def test_longest_critical_path_starts_first() -> None:
    jobs = [Job("x", "t"), Job("a", "t"), Job("b", "t", ("a",)), Job("c", "t", ("b",))]
    record = Record()
    _, events = go(jobs, fake_build(jobs, record), jobs_limit=1)
    # x comes first in the input but a heads a chain of three, then b one of two; c and x tie
    # at 1 and x is first in topological order.
    assert [e.image for e in events.of(Started)] == ["a", "b", "x", "c"]


def test_past_durations_weigh_the_critical_path() -> None:
    jobs = [Job("x", "t"), Job("a", "t"), Job("b", "t", ("a",))]
    record = Record()
    _, events = go(jobs, fake_build(jobs, record), jobs_limit=1, weights={"x": 60.0, "a": 5.0})
    assert [e.image for e in events.of(Started)] == ["x", "a", "b"]


def test_equal_critical_paths_start_in_topological_order() -> None:
    jobs = [Job("c", "t"), Job("a", "t"), Job("b", "t")]
    record = Record()
    _, events = go(jobs, fake_build(jobs, record), jobs_limit=1)
    assert [e.image for e in events.of(Started)] == ["c", "a", "b"]


# --- failures --------------------------------------------------------------------------------

SEED_GRAPH = [
    Job("python-base", "foundation"),
    Job("python-ml", "ml", ("python-base",)),
    Job("stt", "svc", ("python-ml",)),
    Job("stt-worker", "svc", ("stt",)),
    Job("tts", "svc", ("python-ml", "python-base")),
    Job("web", "svc", ("python-base",)),
    Job("docs", "svc"),
]


def test_failure_skips_its_descendants_naming_the_parent_and_the_rest_go_on() -> None:
    record = Record()
    result, events = go(SEED_GRAPH, fake_build(SEED_GRAPH, record, fail=["python-ml"]))

    assert result.failed == ("python-ml",)
    assert sorted(result.succeeded) == ["docs", "python-base", "web"]
    assert sorted(result.skipped) == ["stt", "stt-worker", "tts"]
    assert events.skip_reasons() == {
        "stt": "parent python-ml failed",
        "tts": "parent python-ml failed",
        "stt-worker": "parent stt skipped (python-ml failed)",
    }
    assert not result.cancelled
    assert "stt" not in record.start
    # An Outcome failure is the build's to report; the scheduler adds no Failed event.
    assert events.of(Failed) == []


@given(dags(), limits_st, st.data())
@PROPERTY
def test_skipped_are_exactly_the_descendants_of_failures(
    jobs: list[Job], limits: tuple[int, dict[str, int]], data: st.DataObject
) -> None:
    names = [j.name for j in jobs]
    fail = data.draw(st.sets(st.sampled_from(names)))
    record = Record()
    result, events = go(jobs, fake_build(jobs, record, fail=fail), limits[0], limits[1])

    assert set(result.failed) == fail - descendants(jobs, fail)
    assert set(result.skipped) == descendants(jobs, result.failed)
    assert set(result.succeeded) == set(names) - set(result.failed) - set(result.skipped)
    assert len(result.succeeded) + len(result.failed) + len(result.skipped) == len(jobs)
    assert set(record.start) == set(result.succeeded) | set(result.failed)
    parents = {j.name: set(j.parents) for j in jobs}
    for name, reason in events.skip_reasons().items():
        via, _, rest = reason.removeprefix("parent ").partition(" ")
        assert via in parents[name]
        if rest == "failed":
            assert via in result.failed
        else:
            root = rest.removeprefix("skipped (").removesuffix(" failed)")
            assert via in result.skipped
            assert root in result.failed and name in descendants(jobs, [root])


def test_fail_fast_stops_new_work_but_lets_running_builds_finish() -> None:
    jobs = [
        Job("bad", "t"),
        Job("slow", "t"),
        Job("bad-child", "t", ("bad",)),
        Job("later1", "t"),
        Job("later2", "t"),
    ]
    events = Events()
    # slow is still running when the scheduler has taken in bad's failure (it has skipped
    # bad-child by then), so its success proves running builds are let finish.
    hooks: dict[str, Hook] = {
        "slow": lambda j, c: _require(
            events.wait_for(lambda e: isinstance(e, Skipped) and e.image == "bad-child"),
            "bad's failure was never seen",
        )
    }
    record = Record()
    result = run(
        jobs,
        fake_build(jobs, record, fail=["bad"], hooks=hooks),
        Limits(2),
        emit=events,
        cancel=threading.Event(),
        fail_fast=True,
        weights={"bad": 10.0, "slow": 10.0},
    )
    assert result.failed == ("bad",)
    assert result.succeeded == ("slow",)
    assert sorted(result.skipped) == ["bad-child", "later1", "later2"]
    assert events.skip_reasons() == {
        "bad-child": "parent bad failed",
        "later1": "fail-fast after bad failed",
        "later2": "fail-fast after bad failed",
    }
    assert set(record.start) == {"bad", "slow"}
    assert not result.cancelled


def test_without_fail_fast_independent_jobs_still_build() -> None:
    jobs = [Job("bad", "t"), Job("bad-child", "t", ("bad",)), Job("other", "t")]
    record = Record()
    result, _ = go(jobs, fake_build(jobs, record, fail=["bad"]), jobs_limit=1)
    assert result.succeeded == ("other",)
    assert result.skipped == ("bad-child",)


def test_a_build_that_raises_counts_as_failed_with_the_exception_text() -> None:
    jobs = [Job("boom", "t"), Job("boom-child", "t", ("boom",)), Job("fine", "t")]

    def explode(job: Job, cancel: threading.Event) -> None:
        raise RuntimeError("disk on fire")

    record = Record()
    result, events = go(jobs, fake_build(jobs, record, hooks={"boom": explode}))
    assert result.failed == ("boom",)
    assert result.succeeded == ("fine",)
    assert events.skip_reasons() == {"boom-child": "parent boom failed"}
    [failed] = events.of(Failed)
    assert isinstance(failed, Failed)
    assert failed.image == "boom"
    assert failed.reason == "disk on fire"
    assert failed.duration_s >= 0
    assert any("RuntimeError: disk on fire" in line for line in failed.log_tail)


# --- cancellation ----------------------------------------------------------------------------


def test_cancel_mid_run_returns_promptly_and_skips_the_unstarted() -> None:
    jobs = [Job("a", "t"), Job("b", "t"), Job("a-child", "t", ("a",)), Job("d", "t")]
    cancel = threading.Event()
    both_started = threading.Barrier(3, timeout=WAIT_S)

    def honour_cancel(job: Job, flag: threading.Event) -> Outcome:
        both_started.wait()
        _require(flag.wait(WAIT_S), "cancel never reached the build")
        return Outcome(ok=False, reason="cancelled")

    cancelled_at: list[float] = []

    def signal_handler() -> None:
        both_started.wait()
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=signal_handler, daemon=True).start()
    record = Record()
    result, events = go(
        jobs,
        fake_build(jobs, record, hooks={"a": honour_cancel, "b": honour_cancel}),
        jobs_limit=2,
        weights={"a": 10.0, "b": 10.0},
        cancel=cancel,
    )
    returned_at = time.monotonic()

    assert result.cancelled
    assert returned_at - cancelled_at[0] < 5.0
    assert sorted(result.failed) == ["a", "b"]
    assert result.succeeded == ()
    assert events.skip_reasons() == {"a-child": "cancelled", "d": "cancelled"}
    assert set(record.start) == {"a", "b"}
    assert events.of(Failed) == []  # the builds report their own cancellation


def test_cancel_is_seen_while_a_build_is_still_running() -> None:
    # The build sets the flag (standing in for a signal handler) and keeps running until the
    # scheduler has reacted: so the main loop must notice cancel without any build finishing.
    jobs = [Job("stubborn", "t"), Job("next", "t")]
    events = Events()
    cancel = threading.Event()
    saw_skip: list[bool] = []

    def ignore_cancel_for_a_while(job: Job, flag: threading.Event) -> None:
        flag.set()
        saw_skip.append(events.wait_for(lambda e: isinstance(e, Skipped) and e.image == "next"))

    record = Record()
    result = run(
        jobs,
        fake_build(jobs, record, hooks={"stubborn": ignore_cancel_for_a_while}),
        Limits(1),
        emit=events,
        cancel=cancel,
        weights={"stubborn": 5.0},
    )
    assert saw_skip == [True]
    assert result.cancelled
    # It still finished successfully after cancel: that counts, its dependents would not start.
    assert result.succeeded == ("stubborn",)
    assert result.skipped == ("next",)


def test_cancel_before_the_run_starts_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    record = Record()
    result, events = go(SEED_GRAPH, fake_build(SEED_GRAPH, record), cancel=cancel)
    assert result.cancelled
    assert result.skipped == tuple(order(SEED_GRAPH))
    assert set(events.skip_reasons().values()) == {"cancelled"}
    assert record.start == {}


def test_an_exception_in_emit_cancels_running_builds_and_propagates() -> None:
    jobs = [Job("a", "t"), Job("b", "t")]
    cancel = threading.Event()
    seen_cancel: list[bool] = []

    def emit(event: Event) -> None:
        if isinstance(event, Started) and event.image == "b":
            raise KeyboardInterrupt

    def build(job: Job, flag: threading.Event) -> Outcome:
        seen_cancel.append(flag.wait(WAIT_S))
        return Outcome(ok=False, reason="cancelled")

    with pytest.raises(KeyboardInterrupt):
        run(jobs, build, Limits(2), emit=emit, cancel=cancel)
    assert cancel.is_set()
    assert seen_cancel == [True]


def test_an_empty_run_does_nothing() -> None:
    result, events = go([], lambda job, cancel: Outcome(ok=True))
    assert result == RunResult((), (), (), False)
    assert events.events == []


# --- events ----------------------------------------------------------------------------------


def test_every_event_serialises_to_stable_json() -> None:
    samples: list[Event] = [
        Queued("stt", "svc", time=1.0),
        Started("stt", "svc", time=1.0),
        Step("stt", "RUN pip install", 1.5, None, False, None, time=1.0),
        Finished("stt", 12.5, 9, 7, "sha256:abc", time=1.0),
        Failed("stt", "exit 1", 3.0, ("line 1", "line 2"), time=1.0),
        Skipped("stt", "parent python-ml failed", time=1.0),
        UpToDate("stt", time=1.0),
        SmokeStarted("stt", "healthcheck", time=1.0),
        SmokeFinished("stt", "timeout", 60.2, "timed out after 60s", ("booting",), time=1.0),
        Warned("stt", "cache export failed (127.0.0.1:5000/x:buildcache): refused", time=1.0),
        Planned("stt", parents={"stt": ("base",)}, jobs=2, tier_limits={"svc": 1}, time=1.0),
        Progress("stt", done=1, total=3, elapsed_s=2.0, eta_s=4.5, no_history=("x",),
                 time=1.0),
        Retry("stt", 2, 3, "parent snapshot sha256:1 does not exist", time=1.0),
    ]
    assert {type(e) for e in samples} == set(EVENT_TYPES)
    kinds = [e.to_json()["event"] for e in samples]
    assert kinds == ["queued", "started", "step", "finished", "failed", "skipped", "up-to-date",
                     "smoke-started", "smoke-finished", "warning", "planned", "progress",
                     "retry"]
    for e in samples:
        obj = e.to_json()
        assert list(obj)[:3] == ["event", "image", "time"]
        assert obj["image"] == "stt" and obj["time"] == 1.0
        assert json.loads(json.dumps(obj)) == obj
    assert samples[3].to_json() == {
        "event": "finished", "image": "stt", "time": 1.0, "duration_s": 12.5, "steps": 9,
        "cached_steps": 7, "image_id": "sha256:abc", "reused": False,
    }
    assert samples[4].to_json()["log_tail"] == ["line 1", "line 2"]
    assert samples[8].to_json() == {
        "event": "smoke-finished", "image": "stt", "time": 1.0, "outcome": "timeout",
        "duration_s": 60.2, "reason": "timed out after 60s", "log_tail": ["booting"],
    }
    assert samples[4].to_json()["cause"] == "build"
    assert samples[10].to_json()["parents"] == {"stt": ["base"]}
    assert samples[11].to_json()["no_history"] == ["x"]
    assert samples[12].to_json() == {
        "event": "retry", "image": "stt", "time": 1.0, "attempt": 2, "of": 3,
        "reason": "parent snapshot sha256:1 does not exist",
    }


def test_events_default_to_the_current_time_and_are_frozen() -> None:
    before = time.time()
    event = Queued("stt", "svc")
    assert before <= event.time <= time.time()
    with pytest.raises(AttributeError):
        event.image = "tts"  # type: ignore[misc]


def _meet(barrier: threading.Barrier) -> None:
    barrier.wait()


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise AssertionError(message)
