"""Smoke checks on the real engine: a command that passes, one that fails (its dependents
skipped, the manifest unchanged), a timeout, a HEALTHCHECK that becomes healthy and one that
never does, ^C during a check — and never a container left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import PREFIX, bo, docker, manifest, names, run_bo

HEALTHY = """FROM busybox:1.36
HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD test -f /tmp/ready
CMD ["sh", "-c", "sleep 1 && touch /tmp/ready && exec sleep 600"]
"""
NEVER = """FROM busybox:1.36
HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD test -f /tmp/never
CMD ["sleep", "600"]
"""
# The check itself asserts the container has no network: only the loopback interface.
NO_NET = 'test -f /base.txt && test "$(ls /sys/class/net)" = lo'


def _config(reg: str) -> str:
    return f"""
[project]
registry = "{reg}"
jobs = 2
[cache]
from = []
to = []
[tiers.foundation]
[tiers.services]
smoke_timeout = "20s"
[tiers.slow]
smoke_timeout = "2s"
[base.base]
tier = "foundation"
dockerfile = "base.Dockerfile"
smoke = ["sh", "-c", '{NO_NET}']
[services.child]
tier = "services"
dockerfile = "child.Dockerfile"
[services.bad]
tier = "services"
dockerfile = "bad.Dockerfile"
smoke = ["sh", "-c", "echo broken config >&2; exit 4"]
[services.bad-child]
tier = "slow"
dockerfile = "bad-child.Dockerfile"
[services.slow]
tier = "slow"
dockerfile = "plain.Dockerfile"
smoke = ["sleep", "30"]
[services.healthy]
tier = "services"
dockerfile = "healthy.Dockerfile"
smoke = "healthcheck"
[services.never]
tier = "services"
dockerfile = "never.Dockerfile"
smoke = "healthcheck"
"""


def _files(reg: str) -> dict[str, str]:
    return {
        "services.toml": _config(reg),
        "base.txt": "base\n",
        "base.Dockerfile": "FROM busybox:1.36\nCOPY base.txt /base.txt\n",
        "child.Dockerfile": f"FROM {reg}/base:latest\nRUN echo child > /child\n",
        "bad.Dockerfile": "FROM busybox:1.36\nRUN echo bad > /bad\n",
        "bad-child.Dockerfile": f"FROM {reg}/bad:latest\nRUN echo bc > /bc\n",
        "plain.Dockerfile": "FROM busybox:1.36\nRUN echo slow > /slow\n",
        "healthy.Dockerfile": HEALTHY,
        "never.Dockerfile": NEVER,
        ".dockerignore": ".git\n.buildorch\n",
        ".gitignore": ".buildorch/\n",
    }


def _smoke_containers(reg: str) -> list[str]:
    """Smoke containers (by label) of images in this test's namespace."""
    out = docker("ps", "-a", "--filter", "label=org.buildorch.smoke", "--format",
                 '{{.ID}} {{.Label "org.buildorch.smoke.image"}}', check=False)
    return [line.split()[0] for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].startswith(reg)]


@pytest.fixture
def smoke_repo(make_repo: Callable[..., Path], engine: None) -> Iterator[tuple[Path, str]]:
    ns = uuid.uuid4().hex[:10]
    reg = f"{PREFIX}smoke-{ns}"
    yield make_repo(_files(reg), name=f"smoke-{ns}"), reg
    left = _smoke_containers(reg)
    if left:   # only what this test made
        docker("rm", "-f", *left, check=False)


def _events(ev: list[dict[str, object]], kind: str) -> dict[str, dict[str, object]]:
    return {str(e["image"]): e for e in ev if e["event"] == kind}


def test_smoke_checks_in_a_build(smoke_repo: tuple[Path, str]) -> None:
    repo, reg = smoke_repo
    rc, ev, err = run_bo(repo, "build")
    assert rc == 1, err
    finished = set(names(ev, "finished"))
    assert finished == {"base", "child", "healthy"}, ev
    smoke = _events(ev, "smoke-finished")
    assert {n: e["outcome"] for n, e in smoke.items()} == {
        "base": "passed", "healthy": "passed", "bad": "failed", "slow": "timeout",
        "never": "failed"}
    # an image without a check (child) gets no smoke events; a checked one starts first
    assert "child" not in names(ev, "smoke-started")
    assert _events(ev, "smoke-started")["healthy"]["check"] == "healthcheck"
    kinds = [e["event"] for e in ev if e["image"] == "base"]
    assert kinds.index("smoke-started") < kinds.index("smoke-finished") < kinds.index("finished")

    failed = _events(ev, "failed")
    assert set(failed) == {"bad", "slow", "never"}
    assert failed["bad"]["reason"] == ("smoke check failed: `sh -c 'echo broken config >&2; "
                                       "exit 4'` exited with code 4")
    assert "broken config" in failed["bad"]["log_tail"]  # type: ignore[operator]
    assert str(failed["slow"]["reason"]).startswith(
        "smoke check failed: timed out after 2s (`sleep 30` still running); raise "
        "`smoke_timeout`")
    assert str(failed["never"]["reason"]).startswith(
        "smoke check failed: HEALTHCHECK reported unhealthy (last check exited 1")
    # the failure's dependents are skipped; the manifest records only what passed
    assert _events(ev, "skipped")["bad-child"]["reason"] == "parent bad failed"
    assert set(manifest(repo)["images"]) == {"base", "child", "healthy"}  # type: ignore[arg-type]
    assert _smoke_containers(reg) == []

    # history and stats count it
    history = [json.loads(line) for line in
               (repo / ".buildorch/history.jsonl").read_text().splitlines()]
    assert {h["image"]: h.get("smoke") for h in history if "smoke" in h} == {
        "base": "passed", "healthy": "passed", "bad": "failed", "slow": "timeout",
        "never": "failed"}
    stats = json.loads(bo(repo, "stats", "--json").stdout)
    rows = {r["name"]: r for r in stats["images"]}
    assert (rows["bad"]["smoke_failed"], rows["bad"]["failed"]) == (1, 1)
    assert rows["base"]["smoke_passed"] == 1 and stats["total"]["smoke_failed"] == 3

    # plain output: the failure's reason and its output's tail, one width for every line
    # (the config's longest name, at least "buildorch")
    p = bo(repo, "build", "bad", "--progress", "plain")
    assert p.returncode == 1
    # failures are errors: on stderr (the summary table stays on stdout)
    assert "[bad      ] FAILED: smoke check failed: `sh -c" in p.stderr
    assert "[bad      ]   | broken config" in p.stderr
    assert "not in the manifest" not in p.stdout   # (reasons are the plan's, not printed)

    # the next run builds and checks the failed ones again; --no-smoke lets them through
    rc, ev, _ = run_bo(repo, "build", "--no-smoke")
    assert rc == 0
    assert set(names(ev, "finished")) == {"bad", "bad-child", "slow", "never"}
    assert names(ev, "smoke-started") == []
    assert _smoke_containers(reg) == []


def test_smoke_command_on_the_images_as_they_are(smoke_repo: tuple[Path, str]) -> None:
    repo, reg = smoke_repo
    rc, _, err = run_bo(repo, "build", "--no-smoke", "base", "healthy", "bad")
    assert rc == 0, err
    p = bo(repo, "smoke", "base", "healthy")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("base     passed") and lines[0].endswith(NO_NET.join("''"))
    assert lines[1].startswith("healthy  passed") and lines[1].endswith("healthcheck")
    assert lines[-1] == "2 checked: 2 passed, 0 failed"
    p = bo(repo, "smoke", "bad", "child")
    assert p.returncode == 1
    assert "note: child has no smoke check" in p.stderr
    assert "bad  FAILED" in p.stderr and "  | broken config" in p.stderr
    assert p.stdout.splitlines()[-1] == "1 checked: 0 passed, 1 failed"
    p = bo(repo, "smoke", "bda")
    assert p.returncode == 1
    assert p.stderr.strip() == "buildorch: error: unknown image 'bda'; did you mean 'bad'?"
    assert _smoke_containers(reg) == []


def _wait_for_container(reg: str, proc: subprocess.Popen[str], limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not _smoke_containers(reg):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no smoke container appeared"
        time.sleep(0.2)


@pytest.mark.parametrize("args", [("build", "--progress", "json", "slow"), ("smoke", "slow")])
def test_interrupt_during_a_smoke_check_leaves_no_container(
        smoke_repo: tuple[Path, str], args: tuple[str, ...]) -> None:
    repo, reg = smoke_repo
    toml = repo / "services.toml"
    toml.write_text(toml.read_text().replace('smoke_timeout = "2s"', 'smoke_timeout = "5m"'))
    if args[0] == "smoke":
        rc, _, err = run_bo(repo, "build", "--no-smoke", "slow")
        assert rc == 0, err
    proc = subprocess.Popen([sys.executable, "-m", "buildorch", *args], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_container(reg, proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert _smoke_containers(reg) == []
    if args[0] == "build":
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert _events(events, "smoke-finished")["slow"]["outcome"] == "cancelled"
        m = repo / ".buildorch/manifest.json"
        assert not m.exists() or "slow" not in manifest(repo)["images"]  # type: ignore[operator]
