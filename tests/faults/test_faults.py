"""Fault injection against a private engine and a private registry (never the shared ones):
kill -9 at seeded points, SIGINT/SIGTERM, the engine stopped or frozen, the registry stopped,
two runs at once, and what cleanup may touch. Each test prints the events that led to a failure.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engines import PrivateEngine
from tests.faults.conftest import PrivateRegistry
from tests.helpers import PREFIX, manifest, names, run_bo, stack, story

SEED = int(os.environ.get("BUILDORCH_FAULTS_SEED", "9"))


def _repo(make_repo: Callable[..., Path], **kw: object) -> tuple[Path, str]:
    ns = uuid.uuid4().hex[:10]
    return make_repo(stack(ns, **kw), name=f"repo-{ns}"), f"{PREFIX}{ns}"  # type: ignore[arg-type]


def _spawn(repo: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "buildorch", *args, "--progress", "json"],
                            cwd=repo, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _read_until(p: subprocess.Popen[str], done: Callable[[dict[str, object]], bool],
                timeout: float = 180) -> list[dict[str, object]]:
    assert p.stdout is not None
    events: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    for line in p.stdout:
        if line.startswith("{"):
            events.append(json.loads(line))
            if done(events[-1]):
                return events
        assert time.monotonic() < deadline, story(events)
    raise AssertionError("the build ended before the fault point\n" + story(events))


def _children_of(repo: Path) -> list[str]:
    out = subprocess.run(["ps", "-ewwo", "pid,args"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if "buildx" in ln and str(repo) in ln]


def _wait_gone(repo: Path, seconds: float = 15) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _children_of(repo)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# -- kill -9 ---------------------------------------------------------------------------------

POINTS = ("started base", "step base", "started a", "finished base", "started svc-a")


@pytest.mark.parametrize("point", random.Random(SEED).sample(POINTS, 3))
def test_kill_9_then_the_next_build_and_a_no_change_run_succeed(
        point: str, private_engine: PrivateEngine, make_repo: Callable[..., Path]) -> None:
    repo, _ = _repo(make_repo, tier1_parallel=3, jobs=3)
    env = private_engine.env
    kind, image = point.split()
    delay = random.Random(f"{SEED}-{point}").uniform(0.0, 1.5)
    p = _spawn(repo, env, "build")
    events = _read_until(p, lambda e: e["event"] == kind and e["image"] == image)
    time.sleep(delay)
    p.kill()
    p.wait()
    # the build's children die with buildorch (PR_SET_PDEATHSIG), without anyone's help
    assert _wait_gone(repo) == [], f"children outlived buildorch at {point}+{delay:.2f}s"
    if (repo / ".buildorch/manifest.json").exists():
        manifest(repo)   # parses: never half written
    rc, ev, err = run_bo(repo, "build", env=env)
    assert rc == 0, f"after kill -9 at {point}+{delay:.2f}s:\n" + story(events + ev, err)
    rc, ev, err = run_bo(repo, "build", env=env)
    assert rc == 0 and names(ev, "finished") == [], story(ev, err)
    assert len(names(ev, "up-to-date")) == 7, story(ev, err)


# -- SIGINT / SIGTERM -------------------------------------------------------------------------

def _handles_sigterm(pid: int) -> bool:
    """buildorch's own handlers are in place (its first code has run): SigCgt has SIGTERM."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(int(ln.split()[1], 16) for ln in status.splitlines()
                  if ln.startswith("SigCgt:"))
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_start_up_exits_130_without_a_traceback(
        sig: signal.Signals, make_repo: Callable[..., Path]) -> None:
    """From buildorch's first line on (before it, the interpreter itself is starting: see
    README, "Reliability"), at seeded moments of start-up: 130, one line, no traceback."""
    repo, _ = _repo(make_repo)
    results = []
    for delay in sorted(random.Random(f"{SEED}-{sig}").uniform(0, 0.25) for _ in range(6)):
        p = subprocess.Popen([sys.executable, "-m", "buildorch", "plan"], cwd=repo,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not _handles_sigterm(p.pid) and p.poll() is None:
            time.sleep(0.001)
        time.sleep(delay)
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        assert "Traceback" not in err, err
        results.append(p.returncode)
        assert p.returncode in (0, 130), (delay, p.returncode, err)
        if p.returncode == 130:
            assert err.strip().splitlines()[-1] == "buildorch: interrupted", err
    assert 130 in results, results


def test_sigterm_mid_build_stops_everything_and_keeps_what_finished(
        private_engine: PrivateEngine, make_repo: Callable[..., Path]) -> None:
    key = uuid.uuid4().hex
    repo, _ = _repo(make_repo, extra={
        "services/svc-a/Dockerfile": f"FROM busybox:1.36\nRUN echo {key} && sleep 120\n"})
    p = _spawn(repo, private_engine.env, "build")
    events = _read_until(p, lambda e: e["event"] == "started" and e["image"] == "svc-a")
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    rest, err = p.communicate(timeout=60)
    events += [json.loads(x) for x in rest.splitlines() if x.startswith("{")]
    assert p.returncode == 130, story(events, err)
    assert "Traceback" not in err
    assert _wait_gone(repo) == []
    finished = set(names(events, "finished"))
    data = manifest(repo) if (repo / ".buildorch/manifest.json").exists() else {"images": {}}
    assert set(data["images"]) == finished, story(events, err)  # type: ignore[arg-type]


# -- the engine stopped, or frozen ------------------------------------------------------------

def test_engine_stopped_mid_build_is_said_once_and_what_finished_is_kept(
        private_engine: PrivateEngine, make_repo: Callable[..., Path]) -> None:
    key = uuid.uuid4().hex   # never cached: the step must be running when the engine stops
    repo, _ = _repo(make_repo, extra={
        "services/svc-b/Dockerfile": f"FROM busybox:1.36\nRUN echo {key} && sleep 60\n"})
    env = private_engine.env
    p = _spawn(repo, env, "build")
    events = _read_until(p, lambda e: (e["event"] == "step" and e["image"] == "svc-b"
                         and "sleep" in str(e["name"])) or
                         (e["event"] == "started" and e["image"] == "svc-b"))
    time.sleep(1.0)
    private_engine.down()
    try:
        rest, err = p.communicate(timeout=120)
        events += [json.loads(x) for x in rest.splitlines() if x.startswith("{")]
        assert p.returncode == 1, story(events, err)
        assert "Traceback" not in err
        said = [e for e in events if e["event"] == "warning"
                and "stopped answering" in str(e["message"])]
        assert len(said) == 1, story(events, err)
        assert private_engine.host in str(said[0]["message"]), said
        failed = [e for e in events if e["event"] == "failed"]
        assert failed and all(e["cause"] == "engine" for e in failed), story(events, err)
        finished = set(names(events, "finished"))
        data = manifest(repo) if (repo / ".buildorch/manifest.json").exists() \
            else {"images": {}}
        assert set(data["images"]) == finished, story(events, err)  # type: ignore[arg-type]
    finally:
        private_engine.up()
    rc, ev, err = run_bo(repo, "build", env=env)
    assert rc == 0, story(ev, err)
    assert not set(names(ev, "finished")) & finished, story(ev, err)


def test_a_frozen_engine_at_start_is_said_within_seconds(
        private_engine: PrivateEngine, make_repo: Callable[..., Path]) -> None:
    repo, _ = _repo(make_repo)
    pid = private_engine.pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        rc, ev, err = run_bo(repo, "build", env=private_engine.env, timeout=60)
        took = time.monotonic() - t
    finally:
        os.kill(pid, signal.SIGCONT)
    assert rc == 1 and ev == [], story(ev, err)
    [line] = err.strip().splitlines()
    assert "did not answer within 3s" in line and private_engine.host in line, line
    assert "restart it" in line
    assert took < 8, took


# -- the registry stopped ---------------------------------------------------------------------

def test_registry_stopped_cache_and_push_failures_are_warnings_with_their_reason(
        private_engine: PrivateEngine, private_registry: PrivateRegistry,
        make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    files = stack(ns, cache_from='["registry"]', cache_to='["registry"]')
    files["services.toml"] = files["services.toml"].replace(
        f'registry = "{PREFIX}{ns}"', f'registry = "{private_registry.addr}/{ns}"')
    files["services.toml"] = files["services.toml"].replace(f"{PREFIX}{ns}",
                                                            f"{private_registry.addr}/{ns}")
    for rel, text in list(files.items()):
        files[rel] = text.replace(f"{PREFIX}{ns}", f"{private_registry.addr}/{ns}")
    repo = make_repo(files, name=f"repo-{ns}")
    env = private_engine.env
    rc, ev, err = run_bo(repo, "build", "lone", env=env)
    assert rc == 0, story(ev, err)
    assert not [e for e in ev if e["event"] == "warning"], story(ev, err)
    private_registry.stop()
    (repo / "services/lone/app.txt").write_text("changed\n")
    rc, ev, err = run_bo(repo, "build", "lone", "--no-reuse", env=env)
    assert rc == 0, story(ev, err)     # an outage of the cache costs cache, not the build
    warnings = [str(e["message"]) for e in ev if e["event"] == "warning"]
    assert any(w.startswith("cache import failed") and "refused" in w for w in warnings), \
        story(ev, err)
    assert any(w.startswith("cache export failed") and "refused" in w for w in warnings), \
        story(ev, err)
    assert any(w.startswith("push of") and ":bo-" in w for w in warnings), story(ev, err)
    assert len(warnings) == len(set(warnings)), "each said once"


# -- two runs at once -------------------------------------------------------------------------

def test_two_runs_at_once(private_engine: PrivateEngine,
                          make_repo: Callable[..., Path]) -> None:
    env = private_engine.env
    (r1, _), (r2, _) = _repo(make_repo), _repo(make_repo)
    p1, p2 = _spawn(r1, env, "build"), _spawn(r2, env, "build")
    _read_until(p1, lambda e: e["event"] == "started")
    # the same repository a second time: told, touches nothing
    rc, ev, err = run_bo(r1, "build", env=env, timeout=60)
    assert rc == 1 and ev == [] and "another buildorch build is running" in err, err
    for p in (p1, p2):
        out, err = p.communicate(timeout=300)
        ev = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        assert p.returncode == 0, story(ev, err)
    for r in (r1, r2):
        rc, ev, err = run_bo(r, "build", env=env)
        assert rc == 0 and names(ev, "finished") == [], story(ev, err)


# -- what cleanup may touch -------------------------------------------------------------------

def test_every_policy_leaves_foreign_containers_and_images_alone(
        private_engine: PrivateEngine, tmp_path: Path) -> None:
    d = private_engine.docker
    key = uuid.uuid4().hex[:8]
    ctx = tmp_path / "ctx"
    ctx.mkdir()

    def build(tag: str, *labels: str) -> str:
        (ctx / "Dockerfile").write_text(f"FROM busybox:1.36\nRUN echo {uuid.uuid4().hex}\n")
        args = [a for lab in labels for a in ("--label", lab)]
        d("buildx", "build", "-q", "--load", "--provenance=false", *args, "-t", tag, str(ctx))
        return d("image", "inspect", "-f", "{{.Id}}", tag).strip()

    foreign = build(f"foreign-{key}:x")
    build(f"foreign-{key}:x")                     # the first is now dangling, and not ours
    ours = build(f"ours-{key}:x", "org.buildorch.image=ours")
    build(f"ours-{key}:x", "org.buildorch.image=ours")
    container = d("create", "--name", f"foreign-{key}", "busybox:1.36", "true").strip()
    try:
        for policy in ("emergency", "basic", "standard", "conservative"):
            p = subprocess.run([sys.executable, "-m", "buildorch", "clean", "--policy", policy],
                               cwd=tmp_path, env={**os.environ, **private_engine.env},
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stderr
            assert d("image", "inspect", foreign, check=False).strip(), \
                f"{policy} removed a foreign dangling image"
            assert d("container", "inspect", container, check=False).strip(), \
                f"{policy} removed a foreign stopped container"
            assert not d("image", "inspect", ours, check=False).strip().startswith("[{"), \
                f"{policy} left buildorch's own dangling image"
    finally:
        d("rm", "-f", container, check=False)
        d("rmi", "-f", foreign, f"foreign-{key}:x", f"ours-{key}:x", check=False)
