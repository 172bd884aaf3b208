"""Engines and builders users run: the classic image store, and a tier's builder on another
engine (a docker context), joined through the loopback registry.

A docker-container builder cannot be created offline here (it needs the moby/buildkit image):
its decisions are covered by the unit tests in test_strategy.py.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import PREFIX, SESSION, docker, git, names, run_bo, stack, write_files


@pytest.fixture
def classic(classic_host: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DOCKER_HOST", classic_host)
    return classic_host


def test_classic_store_builds_with_what_it_can_export_and_says_so_once(
        classic: str, make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    repo = make_repo(stack(ns, cache_from='["local", "registry"]',
                           cache_to='["local", "registry"]'), name=f"repo-{ns}")
    rc, ev, err = run_bo(repo, "build", "lone", "base")
    assert rc == 0, err
    assert sorted(names(ev, "finished")) == ["base", "lone"]
    notes = [x for x in err.splitlines() if x.startswith("note:")]
    assert len(notes) == 1 and "classic image store" in notes[0], err
    assert "registry not exported" in notes[0]
    assert not (repo / ".buildorch/cache").exists()
    log = (repo / ".buildorch/logs/lone.log").read_text()
    assert "--cache-to type=registry" not in log and "--cache-to type=local" not in log
    assert "--cache-from type=registry" in log        # registry sources are still read
    # the engine's own build cache serves the rebuild of an unchanged image
    docker("rmi", f"{PREFIX}{ns}/lone:latest")
    rc, ev, err = run_bo(repo, "build", "--no-reuse", "lone")
    assert rc == 0, err
    [fin] = [e for e in ev if e["event"] == "finished"]
    assert fin["cached_steps"] == fin["steps"] == 2
    # asked explicitly, a destination it cannot do is one error before anything starts
    (repo / "base.txt").write_text("base2\n")
    rc, ev, err = run_bo(repo, "build", "--cache-to", "registry")
    assert rc == 1 and not any(e["event"] == "started" for e in ev)
    [line] = err.strip().splitlines()
    assert line.startswith("buildorch: error: --cache-to registry: builder 'default' (docker "
                           "driver, classic image store)"), err
    # and --cache-to replaces the configured list: inline alone works everywhere
    rc, ev, err = run_bo(repo, "build", "--cache-to", "inline", "base")
    assert rc == 0, err
    assert not [x for x in err.splitlines() if x.startswith("note:")]


@pytest.fixture
def other_engine(classic_host: str, engine: None) -> Iterator[str]:
    """A docker context on the classic-store engine: a tier's builder on another engine."""
    name = f"bo-test-{SESSION}-{uuid.uuid4().hex[:4]}"
    docker("context", "create", name, "--docker", f"host={classic_host}")
    try:
        yield name
    finally:
        docker("context", "rm", "-f", name, check=False)


def _two_engine_stack(ns: str, context: str, parent_tier_builder: bool) -> dict[str, str]:
    reg = f"{PREFIX}{ns}"
    builder = f'builder = "{context}"\n'
    return {
        "services.toml": f"""
[project]
registry = "{reg}"
[tiers.base]
{builder if parent_tier_builder else ""}
[tiers.services]
{"" if parent_tier_builder else builder}
[base.parent]
tier = "base"
dockerfile = "parent.Dockerfile"
[services.child]
tier = "services"
dockerfile = "child.Dockerfile"
args = {{ BASE = "{reg}/parent:latest" }}
""",
        # the nonce is written by the parent's build itself: only that build's image has it
        "parent.Dockerfile": "FROM busybox:1.36\nCOPY edit.txt /edit.txt\n"
                             "RUN cat /proc/sys/kernel/random/uuid > /nonce\n",
        "child.Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN cp /nonce /seen\n",
        "edit.txt": "1\n",
        ".dockerignore": ".git\n.buildorch\n",
        ".gitignore": ".buildorch/\n",
    }


@pytest.mark.parametrize("where", ["parent-elsewhere", "child-elsewhere"])
def test_child_always_builds_on_the_parent_just_built_across_engines(
        where: str, other_engine: str, make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    reg = f"{PREFIX}{ns}"
    repo = make_repo(_two_engine_stack(ns, other_engine, where == "parent-elsewhere"),
                     name=f"repo-{ns}")
    # a stale image under the parent's tag on the first engine must never be used
    docker("tag", "busybox:1.36", f"{reg}/parent:latest")
    here = ["docker"]
    there = ["docker", "--context", other_engine]
    parent_on, child_on = (there, here) if where == "parent-elsewhere" else (here, there)
    seen: list[str] = []
    for edit in ("1", "2", "3"):
        write_files(repo, {"edit.txt": f"{edit}\n"})
        git(repo, "commit", "-qam", f"edit {edit}", "--allow-empty")
        rc, ev, err = run_bo(repo, "build")
        assert rc == 0, err
        assert sorted(names(ev, "finished")) == ["child", "parent"]
        # the parent as its builder's engine holds it (built away: under the tag of its
        # inputs, bo-<digest>; the registry's :latest is never overwritten without --push)
        nonce = _run(parent_on, _newest(parent_on, f"{reg}/parent"), "/nonce")
        assert _run(child_on, _newest(child_on, f"{reg}/child"), "/seen") == nonce
        # both images are in this engine too, under {tag} (pulled by digest where built away)
        assert _run(here, f"{reg}/child:latest", "/seen") == nonce
        assert _run(here, f"{reg}/parent:latest", "/nonce") == nonce
        seen.append(nonce)
    assert len(set(seen)) == 3
    # nothing was pushed over the registry's :latest (no --push was asked)
    for image in ("parent", "child"):
        url = f"http://{reg.split('/', 1)[0]}/v2/{reg.split('/', 1)[1]}/{image}/manifests/latest"
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(url, timeout=10)
        assert exc.value.code == 404
    log = (repo / ".buildorch/logs/child.log").read_text()
    assert f"--build-context {reg}/parent:latest=docker-image://{reg}/parent@sha256:" in log
    if where == "child-elsewhere":
        assert f"$ docker --context {other_engine} buildx build" in log
    rc, ev, _ = run_bo(repo, "build")
    assert rc == 0 and names(ev, "finished") == [] and len(names(ev, "up-to-date")) == 2


def _newest(docker_argv: list[str], repository: str) -> str:
    """The image of `repository` this engine made or got last, as REPOSITORY:TAG."""
    out = subprocess.run([*docker_argv, "image", "ls", "--filter", f"reference={repository}",
                          "--format", "{{.CreatedAt}}\t{{.Repository}}:{{.Tag}}"], check=True,
                         capture_output=True, text=True, env=_env()).stdout.splitlines()
    return sorted(out)[-1].split("\t")[1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}


def _run(docker_argv: list[str], ref: str, path: str) -> str:
    return subprocess.run([*docker_argv, "run", "--rm", ref, "cat", path], check=True,
                          capture_output=True, text=True, env=_env()).stdout.strip()


def test_no_registry_with_a_builder_on_another_engine_is_one_error(
        other_engine: str, make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    files = _two_engine_stack(ns, other_engine, True)
    files["services.toml"] = files["services.toml"].replace(
        f'registry = "{PREFIX}{ns}"', "").replace(f"{PREFIX}{ns}/", "")
    files["child.Dockerfile"] = "FROM parent:latest\nRUN cp /nonce /seen\n"
    repo = make_repo(files, name=f"repo-{ns}")
    rc, ev, err = run_bo(repo, "build")
    assert rc == 1 and not any(e["event"] == "started" for e in ev)
    [line] = err.strip().splitlines()
    assert f"builder '{other_engine}' (docker driver, classic image store" in line
    assert "set [project] registry in services.toml" in line
