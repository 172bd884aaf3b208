"""Laptops: the engine the docker CLI uses is reached through a docker context (Docker Desktop,
OrbStack, Colima, Rancher Desktop, rootless Docker), while the default socket belongs to another
engine or is not there at all. buildorch must build into, and look at, that one engine only.

The laptop's engine is the tests' private classic-store engine, reached only through a context
in the test's own DOCKER_CONFIG; the default socket is the shared engine. "No default socket" is
a private mount namespace in which /var/run/docker.sock is /dev/null (that process tree only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.helpers import PREFIX, docker

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
HIDE_DEFAULT_SOCKET = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                       'mount --bind /dev/null /var/run/docker.sock && exec "$@"', "sh"]


def _stack(reg: str) -> dict[str, str]:
    return {
        "services.toml": f"""
[project]
registry = "{reg}"
[cache]
from = []
to = []
[tiers.base]
[tiers.services]
[base.base]
tier = "base"
dockerfile = "base.Dockerfile"
[services.child]
tier = "services"
dockerfile = "child.Dockerfile"
[services.lone]
tier = "services"
dockerfile = "lone.Dockerfile"
""",
        "base.Dockerfile": "FROM busybox:1.36\nCOPY base.txt /base.txt\n",
        "child.Dockerfile": f"FROM {reg}/base:latest\nCOPY child.txt /child.txt\n"
                            "RUN cat /base.txt /child.txt > /both\n",
        "lone.Dockerfile": "FROM busybox:1.36\nCOPY lone.txt /lone.txt\n",
        "base.txt": f"base {reg}\n", "child.txt": "child\n", "lone.txt": "lone\n",
        ".dockerignore": ".git\n.buildorch\n", ".gitignore": ".buildorch/\n",
    }


def _bo(repo: Path, wrap: list[str], *args: str, env: Mapping[str, str]
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*wrap, sys.executable, "-m", "buildorch", *args], cwd=repo,
                          env=dict(env), capture_output=True, text=True, timeout=300)


def _events(p: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]


def _holds(host: str, ref: str) -> bool:
    env = {**os.environ, "DOCKER_HOST": host}
    return subprocess.run(["docker", "image", "inspect", ref], env=env,
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("how", ["currentContext", "no default socket", "DOCKER_CONTEXT",
                                 "DOCKER_HOST over currentContext", "--context over DOCKER_HOST"])
def test_builds_into_and_looks_at_the_engine_the_docker_cli_uses(
        how: str, classic_host: str, docker_config: Path, make_repo: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "no default socket" and os.geteuid() != 0:
        pytest.skip("hiding the default socket needs a mount namespace (root)")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    docker("context", "create", "laptop", "--docker", f"host={classic_host}")
    args: list[str] = []
    wrap: list[str] = []
    source = f"currentContext in {docker_config / 'config.json'}"
    if how in ("currentContext", "no default socket"):
        docker("context", "use", "laptop")
        wrap = HIDE_DEFAULT_SOCKET if how == "no default socket" else []
    elif how == "DOCKER_CONTEXT":
        monkeypatch.setenv("DOCKER_CONTEXT", "laptop")
        source = "DOCKER_CONTEXT"
    elif how == "DOCKER_HOST over currentContext":
        docker("context", "create", "decoy", "--docker", f"host={DEFAULT_SOCKET}")
        docker("context", "use", "decoy")
        monkeypatch.setenv("DOCKER_HOST", classic_host)
        source = "DOCKER_HOST"
    else:
        monkeypatch.setenv("DOCKER_HOST", DEFAULT_SOCKET)
        args, source = ["--context", "laptop"], "--context"
    ns = uuid.uuid4().hex[:10]
    reg = f"{PREFIX}{ns}"
    repo = make_repo(_stack(reg), name=f"repo-{ns}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}

    first = _bo(repo, wrap, *args, "build", "--progress", "json", env=env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    assert sorted(str(e["image"]) for e in _events(first) if e["event"] == "finished") == \
        ["base", "child", "lone"]
    again = _bo(repo, wrap, *args, "build", "--progress", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert [e for e in _events(again) if e["event"] == "started"] == []   # nothing rebuilt
    status = _bo(repo, wrap, *args, "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    st = json.loads(status.stdout)
    assert (st["stale"], st["missing"]) == ([], []), st
    for name in ("base", "child", "lone"):
        ref = f"{reg}/{name}:latest"
        assert _holds(classic_host, ref), f"{ref} is not in the context's engine"
        assert not _holds(DEFAULT_SOCKET, ref), f"{ref} landed in the other engine"
    doctor = _bo(repo, wrap, *args, "doctor", "--json", env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    d = json.loads(doctor.stdout)
    assert (d["endpoint"]["host"], d["endpoint"]["source"]) == (classic_host, source)
    assert d["problems"] == []
    if how == "DOCKER_HOST over currentContext":
        assert any(n.startswith(f"DOCKER_HOST={classic_host} hides context decoy")
                   for n in d["notes"]), d["notes"]
    if how == "currentContext":
        assert any("/var/run/docker.sock is another engine" in n for n in d["notes"]), d
    text = _bo(repo, wrap, *args, "doctor", env=env)
    expect = (f"endpoint  context laptop ({source}): {classic_host}" if how != "DOCKER_HOST "
              "over currentContext" else f"endpoint  {classic_host} (DOCKER_HOST)")
    assert expect in text.stdout.splitlines(), text.stdout


def test_an_engine_that_is_not_there_names_the_context_and_what_to_do(
        engine: None, docker_config: Path, make_repo: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    gone = f"unix://{tmp_path}/colima/docker.sock"
    docker("context", "create", "colima", "--docker", f"host={gone}")
    docker("context", "use", "colima")
    repo = make_repo(_stack(f"{PREFIX}{uuid.uuid4().hex[:10]}"))
    for cmd in (["build"], ["status"]):
        p = _bo(repo, [], *cmd, env=os.environ)
        assert p.returncode == 1
        [line] = p.stderr.strip().splitlines()
        assert line.startswith(f"buildorch: error: no Docker engine reachable at context colima "
                               f"(currentContext in {docker_config}/config.json): {gone} ("), line
        assert "`colima start`" in line and "scripts/" not in line
    doctor = _bo(repo, [], "doctor", env=os.environ)
    assert doctor.returncode == 1 and "no Docker engine reachable at context colima" in \
        doctor.stdout
