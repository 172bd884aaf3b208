"""One record of a run: the report is a fold of the events, nothing else."""

from __future__ import annotations

import io
import threading

from buildorch.planning.plan import Plan, Stale
from buildorch.render import Plain
from buildorch.render.live import LiveTable
from buildorch.running import scheduler
from buildorch.running.events import (
    Failed,
    Finished,
    Queued,
    Skipped,
    Started,
    Step,
    UpToDate,
    Warned,
)
from buildorch.running.report import BuildReport


def _report() -> BuildReport:
    return BuildReport(Plan(stale=(Stale("a", "t", ("new",)), Stale("b", "t", ("new",))),
                            fresh=("c",), baseline="the manifest"), ())


def test_a_build_function_that_raises_after_building_fails_the_run() -> None:
    """The flaky demo-stack test: housekeeping raised after the image was built; the
    scheduler emitted `failed`, the exit status came from a report that never heard of it."""
    report = _report()

    def build(job: scheduler.Job, cancel: threading.Event) -> scheduler.Outcome:
        if job.name == "b":
            raise FileNotFoundError(2, "No such file or directory", "/r/.buildorch/cache/x/ingest")
        report.apply(Finished(job.name, 1.0, 2, 1, "sha256:x"))
        return scheduler.Outcome(True)

    report.apply(UpToDate("c"))
    scheduler.run([scheduler.Job("a", "t"), scheduler.Job("b", "t")], build,
                  scheduler.Limits(2), emit=report.apply, cancel=threading.Event())
    assert not report.ok
    assert [r.result for r in report.images.values()] == ["up-to-date", "built", "failed"]
    assert "No such file or directory" in report.images["b"].reason


def test_the_fold() -> None:
    report = _report()
    report.apply(Step("a", "[2/3] RUN x", 1.0, 2.0, True, None))
    report.apply(Step("a", "[3/3] RUN y", 1.0, 2.0, False, None))
    report.apply(Failed("a", "exit 3", 4.0))
    report.apply(Skipped("b", "parent a failed"))
    report.apply(Warned("", "cache export failed (r/x:buildcache): refused"))
    a = report.images["a"]
    assert (a.result, a.steps, a.cached_steps, a.reason) == ("failed", 2, 1, "exit 3")
    assert report.images["b"].result == "skipped"
    assert report.warnings == ["cache export failed (r/x:buildcache): refused"]
    assert not report.ok
    gone = _report()
    gone.apply(Failed("a", "interrupted: engine stopped", 1.0, cause="engine"))
    assert gone.images["a"].result == "interrupted" and not gone.ok
    dry = _report()
    dry.apply(Skipped("a", "dry run: new"))
    assert dry.ok, "a dry run skips without failing"


def test_plain_puts_failures_and_warnings_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    render = Plain(out, err=err)
    render(Failed("a", "exit 3", 1.0, ("line",)))
    render(Warned("a", "push of r/a:bo-1 failed"))
    render(Finished("b", 1.0, 2, 1, None))
    assert "FAILED: exit 3" in err.getvalue() and "| line" in err.getvalue()
    assert "warning: push of r/a:bo-1 failed" in err.getvalue()
    assert "FAILED" not in out.getvalue() and "built in" in out.getvalue()


def test_plain_lines_have_one_width_from_the_first_and_the_table_shows_every_tier() -> None:
    """Up-to-date images are said before anything is queued: their lines used to be narrower
    than the build lines, and their tier blank in the live table (issue 20)."""
    out = io.StringIO()
    render = Plain(out, names=["python-base", "python-ml-audio", "stt"])
    for e in (UpToDate("python-base"), UpToDate("stt"), Queued("python-ml-audio", "tier-2"),
              Started("python-ml-audio", "tier-2"), Finished("python-ml-audio", 1.0, 2, 2, None)):
        render(e)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert {line.index("] ") for line in lines} == {len("[python-ml-audio")}, lines

    table = LiveTable(tiers={"python-base": "foundation", "stt": "services"})
    table(UpToDate("python-base"))
    table(UpToDate("stt"))
    assert {n: r.tier for n, r in table.rows.items()} == {"python-base": "foundation",
                                                         "stt": "services"}
