"""Registry credentials, said once and up front, against a private `docker-registry` with
htpasswd auth (401 to anyone not logged in) and one that is not there at all. Real builds on
the real engine; the docker CLI's own `docker login` writes the credentials buildorch reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildorch.edges.registry_probe import probe
from tests.faults.conftest import (
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    PrivateRegistry,
    free_port,
)
from tests.helpers import PREFIX, bo, docker, stack

pytestmark = pytest.mark.engine

SIX = ("base", "a", "b", "svc-a", "svc-b", "lone")   # `c` left out: a 6-image build


def repo_on(make_repo: Callable[..., Path], registry: str, *, cache_from: str,
            cache_to: str) -> Path:
    """The test stack with its registry moved to `registry` (FROM lines too)."""
    ns = uuid.uuid4().hex[:10]
    files = stack(ns, cache_from=cache_from, cache_to=cache_to, jobs=3)
    files = {k: v.replace(f"{PREFIX}{ns}", f"{registry}/bo-{ns}") for k, v in files.items()}
    return make_repo(files)


@pytest.fixture
def own_images() -> Iterator[list[str]]:
    """Registries whose images this test made in the shared engine: removed at the end."""
    hosts: list[str] = []
    yield hosts
    for host in hosts:
        refs = [r for r in docker("images", "--format", "{{.Repository}}:{{.Tag}}",
                                  check=False).split()
                if r.startswith(host + "/")]
        if refs:
            docker("rmi", "-f", *refs, check=False)


def login(registry: PrivateRegistry) -> None:
    p = subprocess.run(["docker", "login", "-u", REGISTRY_USER, "--password-stdin",
                        registry.addr], input=REGISTRY_PASSWORD, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "warning" in ln.lower()]


def test_probe_reads_the_docker_credentials_and_never_says_them(
        auth_registry: PrivateRegistry) -> None:
    anonymous = probe(f"{auth_registry.addr}/team")
    assert anonymous.reachable and anonymous.answer == 401
    assert (anonymous.pull, anonymous.push, anonymous.credentials) == (False, False, False)
    assert f"run `docker login {auth_registry.addr}`" in anonymous.why_not("push")
    login(auth_registry)
    logged = probe(f"{auth_registry.addr}/team")
    assert (logged.pull, logged.push, logged.credentials) == (True, True, True)
    assert REGISTRY_PASSWORD not in repr(logged) and REGISTRY_PASSWORD not in str(
        logged.to_json())
    gone = probe(f"127.0.0.1:{free_port()}/team")
    assert not gone.reachable and gone.pull is None and "does not answer" in gone.why_not("pull")


def test_a_401_registry_cache_is_one_warning_for_the_run_and_counted(
        auth_registry: PrivateRegistry, make_repo: Callable[..., Path],
        own_images: list[str]) -> None:
    own_images.append(auth_registry.addr)
    repo = repo_on(make_repo, f"{auth_registry.addr}", cache_from='["local", "registry"]',
                   cache_to='["local", "registry"]')
    p = bo(repo, "build", *SIX, "--progress", "plain", timeout=600)
    assert p.returncode == 0, p.stderr
    said = warnings(p.stderr)
    assert len(said) == 1, said
    assert f"docker login {auth_registry.addr}" in said[0]
    assert "refuses" in said[0] and REGISTRY_PASSWORD not in p.stderr + p.stdout
    assert f"6 image(s) ran without the registry cache of {auth_registry.addr}" in p.stdout
    assert "6 built" in p.stdout


def test_an_unreachable_registry_cache_is_one_warning(
        make_repo: Callable[..., Path], own_images: list[str]) -> None:
    host = f"127.0.0.1:{free_port()}"   # nothing listens there
    own_images.append(host)
    repo = repo_on(make_repo, host, cache_from='["local", "registry"]', cache_to='["local"]')
    p = bo(repo, "build", *SIX, "--progress", "plain", timeout=600)
    assert p.returncode == 0, p.stderr
    said = warnings(p.stderr)
    assert len(said) == 1, said
    assert f"registry {host} does not answer" in said[0]
    assert f"6 image(s) ran without the registry cache of {host}" in p.stdout
    d = bo(repo, "doctor")
    # Only read from: a note with the fix, not a problem (the engine is fine).
    assert d.returncode == 0, d.stdout + d.stderr
    assert '[cache] from = ["local"]' in d.stdout + d.stderr


def test_push_without_rights_is_one_error_before_anything_builds(
        auth_registry: PrivateRegistry, make_repo: Callable[..., Path],
        own_images: list[str]) -> None:
    own_images.append(auth_registry.addr)
    repo = repo_on(make_repo, auth_registry.addr, cache_from='["local"]', cache_to='["local"]')
    t = time.monotonic()
    p = bo(repo, "build", "lone", "--push", "--progress", "plain")
    took = time.monotonic() - t
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("buildorch: error: --push: registry " + auth_registry.addr)
    assert f"`docker login {auth_registry.addr}`" in lines[0] and "nothing was built" in lines[0]
    assert "started" not in p.stdout
    print(f"build --push to the credentials error: {took:.2f}s", file=sys.stderr)
    login(auth_registry)   # the same command, logged in: the probe passes, the push works
    p = bo(repo, "build", "lone", "--push", "--progress", "plain", timeout=600)
    assert p.returncode == 0, p.stderr
    assert not warnings(p.stderr)


def test_doctor_counts_a_registry_it_must_write_to_and_cannot(
        auth_registry: PrivateRegistry, make_repo: Callable[..., Path]) -> None:
    repo = repo_on(make_repo, auth_registry.addr, cache_from='["local"]',
                   cache_to='["local", "registry"]')
    d = bo(repo, "doctor")
    assert d.returncode == 1
    assert f"registry {auth_registry.addr} refuses to let this user push" in d.stdout + d.stderr
    assert "no problems found" not in d.stdout
    login(auth_registry)
    d = bo(repo, "doctor")
    assert "refuses" not in d.stdout + d.stderr, d.stdout + d.stderr


HELPER = """#!/bin/sh
# A docker credential helper (the protocol `docker login` uses with credsStore/credHelpers):
# `get` reads the server on stdin and answers JSON.
[ "$1" = get ] || exit 1
read server
[ "$server" = "{host}" ] || {{ echo "credentials not found in native keychain"; exit 1; }}
printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}' "$server"
"""


@pytest.mark.parametrize("key", ["credsStore", "credHelpers"])
def test_credential_helpers_are_read_as_the_cli_reads_them(
        auth_registry: PrivateRegistry, docker_config: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    bin_dir = tmp_path / "helper-bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-bo-test"
    helper.write_text(HELPER.format(host=auth_registry.addr, user=REGISTRY_USER,
                                    secret=REGISTRY_PASSWORD))
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    value: object = "bo-test" if key == "credsStore" else {auth_registry.addr: "bo-test"}
    (docker_config / "config.json").write_text(json.dumps({key: value}))
    got = probe(f"{auth_registry.addr}/team")
    assert (got.pull, got.push, got.credentials) == (True, True, True)
    # No store, or a helper for another host only: nothing for this one, as for the CLI.
    (docker_config / "config.json").write_text(json.dumps(
        {} if key == "credsStore" else {key: {"other.invalid:1": "bo-test"}}))
    assert probe(f"{auth_registry.addr}/team").push is False
