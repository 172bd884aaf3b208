"""The Chrome trace: the format's fields, one track per job slot, steps nested in their image."""

from __future__ import annotations

import itertools
import json

from buildorch.render.trace import trace
from buildorch.running.timeline import fold
from tests.render.streams import diamond_run, wide_run


def spans(doc: dict[str, object]) -> list[dict[str, object]]:
    events = doc["traceEvents"]
    assert isinstance(events, list)
    return [e for e in events if e["ph"] == "X"]


def test_every_span_has_the_fields_the_viewers_need() -> None:
    doc = trace(fold(diamond_run()))
    json.loads(json.dumps(doc))   # plain JSON
    assert doc["displayTimeUnit"] == "ms"
    for e in spans(doc):
        assert {"ph", "name", "ts", "dur", "pid", "tid"} <= set(e)
        assert isinstance(e["ts"], int) and isinstance(e["dur"], int)
        assert e["dur"] >= 0 and e["ts"] >= 0 and e["pid"] == 1


def test_one_track_per_job_slot_and_one_span_per_image_that_ran() -> None:
    doc = trace(fold(diamond_run()))
    events = doc["traceEvents"]
    assert isinstance(events, list)
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names == {1: "job slot 1", 2: "job slot 2"}
    images = {e["name"]: e for e in spans(doc) if str(e["cat"]).startswith("image")}
    assert set(images) == {"base", "lone", "a", "b"}   # c was skipped: it never ran
    assert (images["a"]["ts"], images["a"]["dur"]) == (2_000_000, 3_000_000)
    assert images["b"]["cat"] == "image,failed" and images["lone"]["cat"] == "image,reused"
    assert images["b"]["args"]["queued_for_slot_s"] == 3.0   # type: ignore[index]


def test_steps_and_smoke_checks_nest_within_their_image_on_its_track() -> None:
    for doc in (trace(fold(diamond_run())), trace(fold(wide_run(60, jobs=4)))):
        all_spans = spans(doc)
        images = [e for e in all_spans if str(e["cat"]).startswith("image")]
        children = [e for e in all_spans if not str(e["cat"]).startswith("image")]
        assert children
        for c in children:
            owner = [i for i in images if i["tid"] == c["tid"]
                     and i["ts"] <= c["ts"]  # type: ignore[operator]
                     and c["ts"] + c["dur"] <= i["ts"] + i["dur"]]  # type: ignore[operator]
            assert len(owner) == 1, c
        # siblings on one track never overlap (the viewers need them nested)
        for tid in {c["tid"] for c in children}:
            mine = sorted((c["ts"], c["ts"] + c["dur"]) for c in children  # type: ignore[operator]
                          if c["tid"] == tid)
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(mine))


def test_cached_steps_are_marked() -> None:
    doc = trace(fold(diamond_run()))
    steps = {str(e["name"]): e for e in spans(doc) if str(e["cat"]).startswith("step")}
    assert steps["CACHED [1/2] RUN prepare"]["cat"] == "step,cached"
    assert steps["CACHED [1/2] RUN prepare"]["args"]["cached"] is True  # type: ignore[index]
    assert steps["[2/2] RUN make"]["cat"] == "step"
    assert steps["[1/1] RUN false"]["args"]["error"] is True  # type: ignore[index]
    smoke = [e for e in spans(doc) if e["cat"] == "smoke"]
    assert [(e["ts"], e["dur"]) for e in smoke] == [(4_000_000, 1_000_000)]
