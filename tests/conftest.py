"""Shared fixtures: real git repositories in tmp_path, and the real Docker engine.

Tests that need the engine fail (never skip) when CI=true and no engine answers: a skipped
integration suite would be a hidden red build.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.helpers import PREFIX, docker, git, write_files


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


@pytest.fixture(scope="session", autouse=True)
def remove_test_images() -> Iterator[None]:
    """Remove, at the end of the session, every image the tests tagged (only those)."""
    yield
    if shutil.which("docker") is None:
        return
    tags = [t for t in docker("images", "--format", "{{.Repository}}:{{.Tag}}",
                               check=False).split() if t.startswith(PREFIX)]
    if tags:
        docker("rmi", "-f", *tags, check=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that needs the engine carries the `engine` marker, so that
    # `pytest -m "not engine"` is the fast suite: the marker follows the fixture.
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)
