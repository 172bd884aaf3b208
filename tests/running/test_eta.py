"""The ETA: median durations list-scheduled over the remaining graph (pure, string nodes)."""

from __future__ import annotations

import io

import pytest

from buildorch.render import Plain
from buildorch.running.eta import estimate, medians
from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Planned,
    Progress,
    Queued,
    Skipped,
    Started,
)
from buildorch.running.progress import ProgressTracker
from buildorch.running.scheduler import Job, Limits

DIAMOND = [Job("a", "t0"), Job("b", "t1", ("a",)), Job("c", "t1", ("a",)),
           Job("d", "t2", ("b", "c"))]
COST = {"a": 1.0, "b": 3.0, "c": 2.0, "d": 1.0}


def test_a_chain_costs_its_sum() -> None:
    chain = [Job("a", "t"), Job("b", "t", ("a",)), Job("c", "t", ("b",))]
    assert estimate(chain, Limits(4), {"a": 1, "b": 2, "c": 3}).remaining_s == 6


def test_a_diamond_costs_its_critical_path_not_its_sum() -> None:
    assert estimate(DIAMOND, Limits(2), COST).remaining_s == 5   # a, b|c, d
    assert estimate(DIAMOND, Limits(1), COST).remaining_s == 7   # one slot: the sum


def test_a_tier_limit_serialises_its_images() -> None:
    assert estimate(DIAMOND, Limits(4, {"t1": 1}), COST).remaining_s == 7


def test_the_longest_path_starts_first_as_the_scheduler_does() -> None:
    # Two slots, 5 and five 1s: the 5 first, the 1s beside it -> 5 (in the order given,
    # 1s first: 7; the plain sum: 10).
    jobs = [Job(n, "t") for n in "vwxyz"] + [Job("long", "t")]
    cost = dict.fromkeys("vwxyz", 1.0) | {"long": 5.0}
    assert estimate(jobs, Limits(2), cost).remaining_s == 5


def test_done_and_running_images_count_only_what_is_left() -> None:
    # a done; b ran 1s of its 3; c not started: b|c run side by side, then d.
    est = estimate(DIAMOND, Limits(2), COST, done={"a"}, running={"b": 1.0})
    assert est.remaining_s == 3   # c ends at 2, b at 2, d at 3
    # An image past its median ends "now", never in the past.
    assert estimate(DIAMOND, Limits(2), COST, done={"a", "c"},
                    running={"b": 9.0}).remaining_s == 1
    assert estimate(DIAMOND, Limits(2), COST, done={"a", "b", "c", "d"}) \
        .remaining_s == 0


def test_images_with_no_history_are_named_and_guessed_from_the_others() -> None:
    est = estimate(DIAMOND, Limits(1), {"a": 1.0, "b": 3.0, "d": 1.0})
    assert est.no_history == ("c",)
    assert est.remaining_s == 1 + 3 + 1 + 1   # c: the median of a, b, d
    nothing = estimate(DIAMOND, Limits(2), {})
    assert nothing.remaining_s is None and nothing.no_history == ("a", "b", "c", "d")


def test_medians_take_built_runs_with_their_smoke_check_and_the_last_ten() -> None:
    rows: list[dict[str, object]] = [
        {"image": "a", "result": "built", "duration_s": float(i)} for i in range(20)]
    rows += [{"image": "a", "result": "failed", "duration_s": 999.0},
             {"image": "a", "result": "up-to-date", "duration_s": 0.0},
             {"image": "b", "result": "built", "duration_s": 2.0, "smoke_s": 1.5},
             {"image": "c", "result": "reused", "duration_s": 0.4},
             # the slot's time, where recorded, counts what a build line's does not
             {"image": "d", "result": "built", "duration_s": 2.0, "slot_s": 2.6}]
    assert medians(rows) == {"a": 14.5, "b": 3.5, "d": 2.6}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_says_progress_after_each_image_that_ends() -> None:
    seen: list[Event] = []
    clock = Clock()
    tracker = ProgressTracker(DIAMOND, Limits(2), COST, seen.append, clock=clock)
    tracker.start()
    planned, first = seen[0], seen[1]
    assert isinstance(planned, Planned) and planned.parents["d"] == ("b", "c")
    assert planned.jobs == 2
    assert isinstance(first, Progress) and (first.done, first.total) == (0, 4)
    assert first.eta_s == 5
    for e in (Queued("a", "t0"), Started("a", "t0")):
        tracker(e)
    clock.now += 1
    tracker(Finished("a", 1.0, 1, 0, None))
    tracker(Started("b", "t1"))
    tracker(Started("c", "t1"))
    clock.now += 2
    tracker(Failed("c", "exit 1", 2.0))
    tracker(Skipped("d", "parent c failed"))
    clock.now += 1
    tracker(Finished("b", 3.0, 1, 0, None))
    progress = [e for e in seen if isinstance(e, Progress)]
    assert [(p.done, p.eta_s) for p in progress] == [
        (0, 5), (1, 4), (2, 2), (3, 1), (4, 0)]
    assert [p.elapsed_s for p in progress] == [0, 1, 3, 3, 4]
    # Each Progress comes right after the event that ended an image.
    kinds = [type(e).__name__ for e in seen]
    assert kinds[kinds.index("Failed") + 1] == "Progress"


@pytest.mark.parametrize(("eta", "no_history", "text"), [
    (70.0, (), "[1/3      ] 12.0s elapsed, ETA 1m10s"),
    (None, ("a", "b", "c", "d"), "[1/3      ] 12.0s elapsed, ETA ? "
                                 "(no history: a, b, c and 1 more)"),
])
def test_plain_output_prints_one_eta_line_per_image_that_ends(
        eta: float | None, no_history: tuple[str, ...], text: str) -> None:
    out = io.StringIO()
    plain = Plain(out, err=out)
    plain(Progress("", done=0, total=3, elapsed_s=0.0, eta_s=eta))   # the start: no line
    plain(Progress("", done=1, total=3, elapsed_s=12.0, eta_s=eta, no_history=no_history))
    assert out.getvalue() == text + "\n"
