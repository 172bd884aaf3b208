"""Shared fixtures: real git repositories in tmp_path, and the real Docker engine.

Tests that need the engine fail (never skip) when CI=true and no engine answers: a skipped
integration suite would be a hidden red build.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    env.pop("GIT_DIR", None)
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """A real git repository with the given files committed on `main`."""

    def make(files: Mapping[str, str], *, commit: bool = True, name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        write_files(repo, files)
        git(repo, "init", "-q", "-b", "main")
        if commit:
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "initial")
        return repo

    return make


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Commands find services.toml upwards from the cwd: never let a test find the project's own.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUILDORCH_CONFIG", raising=False)
    yield


def _engine_or_fail() -> None:
    import docker

    try:
        docker.from_env(timeout=10).ping()
    except Exception as exc:
        msg = (f"no Docker engine reachable ({exc.__class__.__name__}); run "
               "`bash scripts/engine.sh up` (or `make test`, which does)")
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def engine() -> None:
    _engine_or_fail()
