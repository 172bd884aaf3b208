"""Retries are visible and counted: a fake `docker` on PATH (the only fake: it stands for a
transient fault the engine cannot be made to produce on demand) fails the first export with
containerd's snapshot race, then succeeds with every step cached."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path

import pytest

from buildorch.config import Tier
from buildorch.render import Plain
from buildorch.running.buildx import BuildResult, failure_reason
from buildorch.running.events import Event, Failed, Retry, Step, StepTally
from buildorch.running.pipeline import MAX_TRIES, combined, with_retries
from buildorch.running.report import BuildReport
from buildorch.running.spec import BuildSpec

FAKE_DOCKER = r'''#!PYTHON
import json, os, sys
count = os.path.join(os.environ["FAKE_STATE"], "count")
n = int(open(count).read()) + 1 if os.path.exists(count) else 1
open(count, "w").write(str(n))
fail = n <= int(os.environ["FAKE_FAILS"])
def v(d, name, cached, error=None):
    x = {"digest": d, "name": name, "started": "2026-12-06T00:00:00.1Z",
         "completed": "2026-12-06T00:00:00.2Z", "cached": cached}
    if error: x["error"] = error
    return x
steps = [v("sha256:1", "[1/3] FROM docker.io/library/busybox:1.36", True),
         v("sha256:2", "[2/3] COPY a.txt /a", n > 1),
         v("sha256:3", "[3/3] RUN echo hi", n > 1)]
err = ("failed to prepare extraction snapshot \"extract-1\": parent snapshot sha256:ab "
       "does not exist: not found")
if fail:
    steps.append(v("sha256:4", "exporting to image", False, err))
print(json.dumps({"vertexes": steps}, indent=1), file=sys.stderr)
if fail:
    print("ERROR: failed to solve: " + err, file=sys.stderr)
    sys.exit(1)
meta = sys.argv[sys.argv.index("--metadata-file") + 1]
open(meta, "w").write(json.dumps({"containerimage.digest": "sha256:" + "f" * 64}))
'''


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_STATE", str(tmp_path))
    return tmp_path


def spec(tmp: Path) -> BuildSpec:
    return BuildSpec(name="stt", tags=("r/stt:latest",), dockerfile=tmp / "Dockerfile",
                     context=tmp, metadata_file=tmp / "meta.json")


def run(tmp: Path, fails: int, monkeypatch: pytest.MonkeyPatch
        ) -> tuple[list[Event], list[BuildResult]]:
    monkeypatch.setenv("FAKE_FAILS", str(fails))
    events: list[Event] = []
    tries: list[BuildResult] = []
    with_retries(spec(tmp), Tier("svc", timeout=60), threading.Event(), tmp / "log",
                 tries, events.append, lambda: False)
    return events, tries


def test_a_transient_export_error_is_retried_said_and_counted_over_all_attempts(
        fake_docker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events, tries = run(fake_docker, 1, monkeypatch)
    assert len(tries) == 2
    retries = [e for e in events if isinstance(e, Retry)]
    assert [(r.attempt, r.of) for r in retries] == [(2, MAX_TRIES)]
    assert "parent snapshot sha256:ab does not exist" in retries[0].reason
    res = combined(tries, 0.0)
    assert res.ok
    # The second attempt found cached what the first ran: neither step is a cache hit.
    assert (res.steps, res.cached_steps) == (2, 0)
    assert res.duration_s >= sum(t.duration_s for t in tries)
    out = io.StringIO()
    plain = Plain(out, steps=False, err=out)
    for e in retries:
        plain(e)
    assert f"retrying (2/{MAX_TRIES}): " in out.getvalue()
    report = BuildReport(plan=None, notes=())  # type: ignore[arg-type]
    for e in events:
        report.apply(e)
    assert report.retries == 1


def test_a_fault_that_persists_stops_at_the_limit(
        fake_docker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events, tries = run(fake_docker, 9, monkeypatch)
    assert len(tries) == MAX_TRIES
    assert [e.attempt for e in events if isinstance(e, Retry)] == list(range(2, MAX_TRIES + 1))
    res = combined(tries, 0.0)
    assert not res.ok and "parent snapshot" in res.reason


def test_a_cancelled_sibling_stage_is_never_the_reason() -> None:
    errors = ['[stage-1 2/5] RUN exit 3: process "/bin/sh -c exit 3" did not complete '
              'successfully: exit code: 3',
              '[slow 2/3] RUN sleep 3: process "/bin/sh -c sleep 3" did not complete '
              'successfully: exit code: 137: context canceled: context canceled']
    assert failure_reason(errors, (), (), 1) == errors[0]
    assert failure_reason(errors[1:], (), (), 1) == errors[1]


def test_steps_a_failed_image_never_ran_are_not_hits() -> None:
    """A failed first build, then its retry that finds cached what the first attempt ran."""
    report = BuildReport(plan=None, notes=())  # type: ignore[arg-type]
    for attempt_cached in (False, True):
        for i in range(1, 14):
            report.apply(Step("x", f"[{i}/14] RUN step {i}", 1.0, 2.0, attempt_cached, None))
    report.apply(Failed("x", "exit 3", 5.0))
    assert (report.images["x"].steps, report.images["x"].cached_steps) == (13, 0)
    tally = StepTally()
    tally.merge([("a", True), ("b", False)])
    tally.merge([("a", True), ("b", True)])
    assert (tally.steps, tally.hits) == (2, 1)
