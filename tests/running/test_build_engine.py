"""Real BuildKit builds on the real engine, against fixture monorepos whose root image is local.

Each fixture gets its own image namespace under the loopback registry, so tests never see each
other's images; everything they tag is removed at the end of the session.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import (
    PREFIX,
    docker,
    git,
    intervals,
    manifest,
    names,
    overlap,
    run_bo,
    stack,
    story,
    write_files,
)

pytestmark = pytest.mark.usefixtures("engine")
@pytest.fixture
def fixture_repo(make_repo: Callable[..., Path]) -> Callable[..., tuple[Path, str]]:
    def make(**kw: object) -> tuple[Path, str]:
        ns = uuid.uuid4().hex[:10]
        return make_repo(stack(ns, **kw), name=f"repo-{ns}"), f"{PREFIX}{ns}"  # type: ignore[arg-type]

    return make





def test_first_build_everything_in_order_then_nothing(
        store: str, fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, reg = fixture_repo()
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0, story(ev, err)
    built = names(ev, "finished")
    assert sorted(built) == ["a", "b", "base", "c", "lone", "svc-a", "svc-b"]
    span = intervals(ev)
    for child, parent in (("a", "base"), ("b", "base"), ("c", "base"), ("svc-a", "a"),
                          ("svc-b", "b")):
        assert span[child][0] >= span[parent][1], f"{child} started before {parent} ended"
    finished = {e["image"]: e for e in ev if e["event"] == "finished"}
    assert all(isinstance(e["duration_s"], float) and int(e["steps"]) >= 2  # type: ignore[call-overload]
               for e in finished.values())
    assert set(manifest(repo)["images"]) == set(built)  # type: ignore[arg-type]
    history = (repo / ".buildorch/history.jsonl").read_text().splitlines()
    assert len(history) == 7 and all(json.loads(h)["result"] == "built" for h in history)
    assert (repo / ".buildorch/logs/svc-a.log").read_text().count("RUN cat /app") >= 1
    # the image carries its digest, and the child really sees its new parent
    out = docker("run", "--rm", f"{reg}/svc-a:latest", "cat", "/a.txt", "/ns")
    assert out.split() == ["a", reg.rsplit("-", 1)[1]]
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == [] and len(names(ev, "up-to-date")) == 7, story(ev)
    p = subprocess.run([sys.executable, "-m", "buildorch", "build", "--progress", "plain"],
                       cwd=repo, capture_output=True, text=True)
    assert "nothing to build: 7 image(s) up to date" in p.stdout


def test_changes_rebuild_exactly_what_they_reach(
        fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, reg = fixture_repo(tier1_parallel=3)
    assert run_bo(repo, "build")[0] == 0
    (repo / "services/svc-b/app.txt").write_text("changed\n")
    rc, ev, _ = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == ["svc-b"], story(ev)
    assert docker("run", "--rm", f"{reg}/svc-b:latest", "cat", "/app").strip() == "changed"
    (repo / "a.txt").write_text("a2\n")
    rc, ev, _ = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == ["a", "svc-a"], story(ev)
    assert docker("run", "--rm", f"{reg}/svc-a:latest", "cat", "/a.txt").strip() == "a2"
    # `service NAME`: stale ancestors first, nothing else
    (repo / "base.txt").write_text("base2\n")
    rc, ev, _ = run_bo(repo, "service", "svc-b")
    assert rc == 0 and names(ev, "finished") == ["base", "b", "svc-b"], story(ev)
    span = intervals(ev)
    assert span["base"][1] <= span["b"][0] <= span["b"][1] <= span["svc-b"][0]
    # an image gone from the engine is stale even though its digest is unchanged
    docker("rmi", f"{reg}/lone:latest")
    rc, ev, _ = run_bo(repo, "build", "lone")
    assert rc == 0 and names(ev, "finished") == ["lone"], story(ev)


def test_failure_skips_dependents_and_the_rest_go_on(
        store: str, fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, _ = fixture_repo()
    df = repo / "images/a.Dockerfile"
    good = df.read_text()
    df.write_text(good.replace("RUN cat", "RUN exit 3 && cat"))
    rc, ev, _ = run_bo(repo, "build")
    assert rc == 1
    failed = [e for e in ev if e["event"] == "failed"]
    assert [f["image"] for f in failed] == ["a"]
    assert "exit code: 3" in str(failed[0]["reason"])
    assert any("exit 3" in line for line in failed[0]["log_tail"])  # type: ignore[attr-defined]
    skipped = {e["image"]: e["reason"] for e in ev if e["event"] == "skipped"}
    assert skipped == {"svc-a": "parent a failed"}
    assert sorted(names(ev, "finished")) == ["b", "base", "c", "lone", "svc-b"]
    assert sorted(manifest(repo)["images"]) == ["b", "base", "c", "lone", "svc-b"]  # type: ignore[call-overload]
    # the summary names the failing step and its exit code (BuildKit's ERROR), not a hint
    p = subprocess.run([sys.executable, "-m", "buildorch", "build", "--progress", "plain"],
                       cwd=repo, capture_output=True, text=True)
    [line] = [x for x in p.stdout.splitlines() if x.strip().startswith("a ")]
    assert "failed" in line and "RUN exit 3" in line and "exit code: 3" in line, p.stdout
    assert "Learn more" not in p.stdout
    df.write_text(good)
    rc, ev, _ = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == ["a", "svc-a"], story(ev)


def test_tier_max_parallel_and_jobs(fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, _ = fixture_repo(tier1_parallel=1, jobs=2)
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0, story(ev, err)
    span = intervals(ev)
    tier1 = [span["a"], span["b"], span["c"]]
    assert not any(overlap(x, y) for i, x in enumerate(tier1) for y in tier1[i + 1:])
    # with jobs=2, something ran beside the tier-1 chain (lone has no parent to wait for)
    assert any(overlap(span["lone"], s) for s in [span["base"], *tier1])


def test_registry_cache_round_trip(fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    ns = uuid.uuid4().hex[:10]
    repo, reg = fixture_repo(cache_from='["registry"]', cache_to='["registry"]', extra={
        "services/lone/Dockerfile": f"FROM busybox:1.36\nCOPY services/lone/app.txt /app-{ns}\n"
                                    f"RUN cat /app-{ns} && echo {ns}\n"})
    rc, ev, err = run_bo(repo, "build", "lone")
    assert rc == 0, story(ev, err)
    first = next(e for e in ev if e["event"] == "finished")
    assert first["cached_steps"] == 0
    # every tag of the image (latest, and bo-<digest> kept for reuse), so nothing holds it
    docker("rmi", *docker("images", "--format", "{{.Repository}}:{{.Tag}}",
                          f"{reg}/lone").split())
    # BuildKit's own cache of this image gone, and nothing else: only the records whose
    # description carries this test's namespace (never `docker builder prune -a`, which on a
    # laptop wipes every cache the user has).
    ours = _cache_records_naming(ns)
    assert len(ours) == 2, ours
    for _ in range(3):   # a parent record goes once its child has gone
        for record in ours:
            docker("builder", "prune", "-f", "--filter", f"id={record}")
        ours = _cache_records_naming(ns)
        if not ours:
            break
    assert ours == []
    assert not (repo / ".buildorch/cache/lone").exists()
    rc, ev, err = run_bo(repo, "build", "--no-reuse", "lone")  # build, from the registry cache
    assert rc == 0, story(ev, err)
    again = next(e for e in ev if e["event"] == "finished")
    assert again["steps"] == 2 and again["cached_steps"] == 2, story(ev)


def _cache_records_naming(text: str) -> list[str]:
    """IDs of BuildKit cache records whose description contains `text`."""
    out, current = [], ""
    for line in docker("buildx", "du", "--verbose").splitlines():
        if line.startswith("ID:"):
            current = line.split(":", 1)[1].strip()
        elif line.startswith("Description:") and text in line:
            out.append(current)
    return out


def test_step_timeout(fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, _ = fixture_repo(step_timeout="3s", extra={
        "services/lone/Dockerfile": "FROM busybox:1.36\nRUN sleep 60\n"})
    t = time.monotonic()
    rc, ev, _ = run_bo(repo, "build", "lone")
    took = time.monotonic() - t
    assert rc == 1
    [failed] = [e for e in ev if e["event"] == "failed"]
    assert "exceeded step_timeout 3.0s" in str(failed["reason"])
    assert "RUN sleep 60" in str(failed["reason"])
    assert took < 20, took


def _our_buildx(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-ewwo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "buildx" in line and marker in line]


def test_sigint_stops_everything_and_records_what_finished(
        store: str, fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, reg = fixture_repo(extra={
        "services/svc-a/Dockerfile": "FROM busybox:1.36\nRUN sleep 120\n"})
    p = subprocess.Popen([sys.executable, "-m", "buildorch", "build", "--progress", "json"],
                         cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    events: list[dict[str, object]] = []
    deadline = time.monotonic() + 120
    for line in p.stdout:
        events.append(json.loads(line))
        if any(e["event"] == "step" and e["image"] == "svc-a" and "sleep" in str(e["name"])
               for e in events[-1:]) or (events[-1]["event"] == "started"
                                         and events[-1]["image"] == "svc-a"):
            break
        assert time.monotonic() < deadline
    time.sleep(2)   # let the sleep step really run
    assert _our_buildx(reg), "the build should be running"
    # a second build in the same repository is told, and touches nothing
    rc, _, err = run_bo(repo, "build", timeout=30)
    assert rc == 1 and "another buildorch build is running in this repository" in err
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    rest, _ = p.communicate(timeout=30)
    took = time.monotonic() - t
    events += [json.loads(x) for x in rest.splitlines() if x.startswith("{")]
    assert p.returncode == 130
    assert took < 10, took
    assert _our_buildx(reg) == []
    finished = set(names(events, "finished"))
    assert "svc-a" not in finished
    data = manifest(repo) if (repo / ".buildorch/manifest.json").exists() else {"images": {}}
    assert set(data["images"]) == finished  # type: ignore[arg-type]


def test_demo_stack_scratch_then_no_change_then_one_service(make_repo: Callable[..., Path]
                                                            ) -> None:
    """The project's own demo stack, in a fresh repository under a fresh namespace."""
    root = Path(__file__).resolve().parents[2]
    ns = f"{PREFIX}demo-{uuid.uuid4().hex[:8]}"
    files: dict[str, str] = {}
    for rel in [".dockerignore", "services.toml",
                *[p.relative_to(root).as_posix() for d in ("Dockerfiles", "services",
                                                           "requirements")
                  for p in (root / d).rglob("*") if p.is_file()]]:
        files[rel] = (root / rel).read_text().replace("127.0.0.1:5000/demo", ns)
    repo = make_repo(files)
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0, story(ev, err)
    assert len(names(ev, "finished")) == 15 and names(ev, "failed") == [], story(ev, err)
    # every service's smoke check ran on the image just built, and passed
    smoke = {e["image"]: e["outcome"] for e in ev if e["event"] == "smoke-finished"}
    assert smoke == dict.fromkeys(
        ["discord", "tts_bark", "stt", "audio_processor", "llm_flan", "guardrails",
         "orchestrator", "linter"], "passed"), story(ev, err)
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == [], story(ev, err)
    write_files(repo, {"services/stt/app.py": "print('stt, changed')\n"})
    git(repo, "commit", "-qam", "change stt")
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == ["stt"], story(ev, err)
    out = docker("run", "--rm", f"{ns}/stt:latest", "cat", "/app/app.py")
    assert "changed" in out
    # [cache] to = ["local"], but the docker driver's engine keeps its own build cache: no
    # second copy is written (--cache-to local would)
    assert not os.path.exists(repo / ".buildorch/cache/stt")


def test_reuse_across_machines(store: str,
                               fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    """A fresh machine (empty engine, no .buildorch) pulls what was built before, builds none."""
    repo, reg = fixture_repo(cache_to='["local", "registry"]')
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0, story(ev, err)
    assert len(names(ev, "finished")) == 7
    tags = [t for t in docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
            if t.startswith(reg)]
    assert any(":bo-" in t for t in tags)
    docker("rmi", "-f", *tags)
    shutil.rmtree(repo / ".buildorch")
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0, story(ev, err)
    finished = [e for e in ev if e["event"] == "finished"]
    assert len(finished) == 7 and all(e["reused"] for e in finished), story(ev, err)
    assert not any(e["event"] == "step" for e in ev), "nothing may be built"
    assert docker("run", "--rm", f"{reg}/svc-a:latest", "cat", "/a.txt").strip() == "a"
    # --no-reuse builds instead
    docker("rmi", f"{reg}/lone:latest")
    rc, ev, _ = run_bo(repo, "build", "--no-reuse", "lone")
    assert rc == 0 and [e["reused"] for e in ev if e["event"] == "finished"] == [False], story(ev)


def test_unknown_tier_builder_stops_before_the_run(
        fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, _ = fixture_repo()
    toml = repo / "services.toml"
    toml.write_text(toml.read_text().replace("[tiers.foundation]",
                                             '[tiers.foundation]\nbuilder = "no-such-builder"'))
    rc, ev, err = run_bo(repo, "build")
    assert rc == 1 and not any(e["event"] == "started" for e in ev)
    assert err.strip() == ("buildorch: error: [tiers.foundation]: buildx builder "
                           "'no-such-builder' does not exist; create it (`docker buildx create "
                           "--name no-such-builder ...`, or `docker context create "
                           "no-such-builder --docker host=...`) or remove `builder` from the "
                           "tier")


def test_disk_guard_stops_a_tier_that_cannot_get_its_space(
        fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, _ = fixture_repo()
    toml = repo / "services.toml"
    toml.write_text(toml.read_text().replace(
        '[tiers.services]\n', '[tiers.services]\nmin_free = "100TB"\ncleanup = "basic"\n'))
    rc, ev, err = run_bo(repo, "build")
    assert rc == 1, err
    failed = {e["image"]: str(e["reason"]) for e in ev if e["event"] == "failed"}
    assert set(failed) == {"lone", "svc-a", "svc-b"}
    reason = failed["lone"]
    assert "\n" not in reason and "100" in reason and "free" in reason, reason
    # the other tiers had room and were built
    assert sorted(names(ev, "finished")) == ["a", "b", "base", "c"]


def test_an_image_replaced_under_its_tag_is_stale(
        fixture_repo: Callable[..., tuple[Path, str]]) -> None:
    repo, reg = fixture_repo()
    assert run_bo(repo, "build")[0] == 0
    docker("tag", "busybox:1.36", f"{reg}/lone:latest")   # e.g. a compose build or a pull
    rc, ev, _ = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == ["lone"], story(ev)
    assert docker("run", "--rm", f"{reg}/lone:latest", "cat", "/app").startswith("lone")
