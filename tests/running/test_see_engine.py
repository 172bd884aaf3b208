"""A real run seen: `build --timings --trace` on the fixture stack, the page checked in a real
browser against the run's own events, the trace against its steps; progress events with an
ETA from the history on the second run."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.running.events import EVENT_TYPES, Event
from buildorch.running.timeline import fold
from tests.helpers import run_bo, stack, story
from tests.render.browser import check_timings_page

pytestmark = pytest.mark.usefixtures("engine")
KINDS = {t.KIND: t for t in EVENT_TYPES}


def revive(obj: dict[str, object]) -> Event:
    """An event of the JSON stream as the object it was."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in obj.items() if k != "event"}
    return KINDS[str(obj["event"])](**fields)  # type: ignore[arg-type]


def test_a_run_with_timings_and_a_trace(make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    repo = make_repo(stack(ns), name=f"repo-{ns}")
    rc, ev, err = run_bo(repo, "build", "--timings", "--trace", "run.json")
    assert rc == 0, story(ev, err)
    built = sorted(str(e["image"]) for e in ev if e["event"] == "finished")
    assert len(built) == 7
    run_id = json.loads((repo / ".buildorch/history.jsonl").read_text().splitlines()[0])["run"]
    page = repo / ".buildorch" / "timings" / f"{run_id}.html"
    assert f"note: timings: {page}" in err and "note: trace: run.json" in err
    out = subprocess.run([sys.executable, "-m", "buildorch", "timings"], cwd=repo,
                         capture_output=True, text=True).stdout.strip()
    assert out == str(page)

    # The page shows this run: every image, each phase as long as its events say.
    tl = fold([revive(e) for e in ev])
    assert sorted(i.name for i in tl.images) == built
    for i in tl.images:
        start = next(e["time"] for e in ev if e["event"] == "started" and e["image"] == i.name)
        end = next(e["time"] for e in ev if e["event"] == "finished" and e["image"] == i.name)
        assert i.duration("building") == pytest.approx(end - start - i.duration("smoke"),
                                                       abs=1e-3)  # type: ignore[operator]
    check_timings_page(page, {i.name: {p: b - a for p, a, b in i.phases()} for i in tl.images},
                       tl.critical)

    # The trace: a span per image on its slot's track, its BuildKit steps inside it.
    trace = json.loads((repo / "run.json").read_text())
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    images = {e["name"]: e for e in spans if e["cat"].startswith("image")}
    assert sorted(images) == built
    assert {e["tid"] for e in images.values()} <= {1, 2}          # jobs = 2
    steps = [e for e in spans if e["cat"].startswith("step")]
    stepped = {str(e["image"]) for e in ev if e["event"] == "step"}
    assert stepped == set(built)
    for s in steps:
        owner = [i for i in images.values() if i["tid"] == s["tid"]
                 and i["ts"] <= s["ts"] and s["ts"] + s["dur"] <= i["ts"] + i["dur"]]
        assert len(owner) == 1, s
    assert len(steps) == sum(1 for e in ev if e["event"] == "step"
                             and (e["completed"] or e["cached"]))
    assert any(s["cat"] == "step,cached" for s in steps)   # FROM the local root: cached


def test_a_service_run_with_its_own_timings_and_trace(make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    repo = make_repo(stack(ns), name=f"repo-{ns}")
    rc, ev, err = run_bo(repo, "service", "svc-a", "--timings=svc.html", "--trace", "svc.json")
    assert rc == 0, story(ev, err)
    built = sorted(str(e["image"]) for e in ev if e["event"] == "finished")
    assert "svc-a" in built and "svc-b" not in built and "lone" not in built
    assert "note: timings: svc.html" in err and "note: trace: svc.json" in err
    page = (repo / "svc.html").read_text()
    assert all(name in page for name in built)
    spans = [e for e in json.loads((repo / "svc.json").read_text())["traceEvents"]
             if e["ph"] == "X" and e["cat"].startswith("image")]
    assert sorted(e["name"] for e in spans) == built


def test_progress_events_with_an_eta_once_there_is_history(
        make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    repo = make_repo(stack(ns), name=f"repo-{ns}")
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0, story(ev, err)
    progress = [e for e in ev if e["event"] == "progress"]
    assert [p["done"] for p in progress] == list(range(8))
    assert all(p["total"] == 7 for p in progress)
    assert progress[0]["eta_s"] is None and len(progress[0]["no_history"]) == 7
    planned = [e for e in ev if e["event"] == "planned"]
    assert len(planned) == 1 and planned[0]["parents"]["svc-a"] == ["a"]
    # Each progress right after the event that ended an image.
    for i, e in enumerate(ev):
        if e["event"] in ("finished", "failed", "skipped"):
            assert ev[i + 1]["event"] == "progress"
    # The history keeps each image's time in its slot, the ETA's measure: at least its build.
    lines = [json.loads(x) for x in (repo / ".buildorch/history.jsonl").read_text().splitlines()]
    assert all(x["slot_s"] >= x["duration_s"] > 0 for x in lines)
    rc, ev, err = run_bo(repo, "build", "--all")
    assert rc == 0, story(ev, err)
    progress = [e for e in ev if e["event"] == "progress"]
    assert progress[0]["no_history"] == [] and progress[0]["eta_s"] > 0
    assert progress[-1]["eta_s"] == 0 and progress[-1]["done"] == 7
    p = subprocess.run([sys.executable, "-m", "buildorch", "build", "--all", "--progress",
                        "plain"], cwd=repo, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("[") and "] " in ln
             and ln[1].isdigit()]
    assert [ln.split("]")[0].rstrip() for ln in lines] == [f"[{k}/7" for k in range(1, 8)]
    assert all("elapsed, ETA " in ln for ln in lines[:-1]) and lines[-1].endswith("done")
