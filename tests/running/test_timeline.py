"""A run's timeline folded from its events: phases, slots, critical path, concurrency."""

from __future__ import annotations

import itertools

from buildorch.running.timeline import fold
from tests.render.streams import diamond_run, wide_run


def test_each_image_is_split_into_what_it_waited_for_and_what_it_did() -> None:
    tl = fold(diamond_run())
    by = {i.name: i for i in tl.images}
    assert [i.name for i in tl.images] == ["base", "lone", "a", "b", "c"]
    assert by["base"].phases() == [("building", 0, 2)]
    assert by["a"].phases() == [("waiting", 0, 2), ("building", 2, 4), ("smoke", 4, 5)]
    # b's parent ended at 2; both slots were busy until 5.
    assert by["b"].phases() == [("waiting", 0, 2), ("queued", 2, 5), ("building", 5, 6)]
    assert by["c"].phases() == [("waiting", 0, 6)] and by["c"].started is None
    assert {n: i.outcome for n, i in by.items()} == {
        "base": "built", "lone": "reused", "a": "built", "b": "failed", "c": "skipped"}
    assert by["b"].reason == "RUN false: exit code: 1"
    assert (by["base"].step_count, by["base"].cached_steps) == (2, 1)
    assert [(s.start, s.end, s.cached) for s in by["base"].steps] == [
        (0.1, 0.1, True), (0.2, 1.9, False)]


def test_slots_never_exceed_the_jobs_and_never_overlap() -> None:
    tl = fold(diamond_run())
    assert tl.jobs == 2
    assert {i.name: i.slot for i in tl.images} == {"base": 1, "lone": 2, "a": 1, "b": 1,
                                                     "c": None}
    big = fold(wide_run(200, jobs=8))
    assert max(i.slot or 0 for i in big.images) == 8
    for slot in range(1, 9):
        spans = sorted((i.started or 0, i.ended) for i in big.images if i.slot == slot)
        assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(spans))


def test_the_critical_path_follows_the_parent_each_image_waited_for() -> None:
    tl = fold(diamond_run())
    # b ended last (6); its parent base ended at 2: the path is base -> b.
    assert tl.critical == ("base", "b")
    assert tl.totals()["critical_s"] == 3.0


def test_concurrency_and_totals() -> None:
    tl = fold(diamond_run())
    # a ends and b starts at 5 while lone ends: one left until b fails at 6.
    assert tl.concurrency() == [(0.0, 2), (5.0, 1), (6.0, 0)]
    tot = tl.totals()
    assert tot["wall_s"] == 6 and tot["built"] == 2 and tot["failed"] == 1
    assert tot["skipped"] == 1 and tot["reused"] == 1
    assert tot["queued_s"] == 3 and tot["smoke_s"] == 1
    assert tot["building_s"] == 2 + 5 + 2 + 1


def test_a_cut_off_stream_leaves_running_images_unfinished() -> None:
    events = diamond_run()[:14]   # up to a's smoke check starting
    tl = fold(events, now=events[0].time + 4.5)
    by = {i.name: i for i in tl.images}
    assert by["a"].outcome == "unfinished" and by["a"].ended == 4.5
    assert by["a"].phases()[-1] == ("smoke", 4, 4.5)
