"""Shared fixtures: real git repositories in tmp_path, the real Docker engine, and private
engines beside it (tests/engines.py).

Tests that need the engine fail (never skip) when CI=true and no engine answers: a skipped
integration suite would be a hidden red build (tests.helpers.unavailable).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.engines import EngineError, PrivateEngine, Store, reap
from tests.helpers import (
    CLASSIC_ENGINE,
    SESSION,
    git,
    remove_images,
    session_images,
    unavailable,
    write_files,
)


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


@pytest.fixture(autouse=True)
def docker_config(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty docker CLI config of the test's own (contexts, buildx's current builder): no
    test reads or writes the user's ~/.docker, and none inherits a context or a builder from
    it (a DOCKER_HOST given to the whole suite still applies: that is the engine asked for).
    The CLI still finds its plugins (buildx, compose) in the system folders. A test that wants
    another config sets DOCKER_CONFIG itself."""
    path = tmp_path_factory.mktemp("docker-config")   # beside tmp_path: a test owns that whole
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    for var in ("DOCKER_CONTEXT", "BUILDX_BUILDER", "BUILDX_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture(scope="session")
def engine() -> None:
    import docker

    try:
        docker.from_env(timeout=10).ping()
    except Exception as exc:
        unavailable(f"no Docker engine reachable ({exc.__class__.__name__}); run "
                    "`bash scripts/engine.sh up` (or `make test`, which does)")


def _up(eng: PrivateEngine) -> PrivateEngine:
    try:
        return eng.up()
    except EngineError as exc:
        unavailable(f"{exc} (tests/engines.py)")


@pytest.fixture(scope="session")
def private_engines(engine: None) -> Iterator[Callable[..., PrivateEngine]]:
    """Start private engines of this session: `private_engines(name, store="containerd",
    data_root=None)` returns one that is up, named `name-SESSION` (so concurrent sessions never
    share one); all are stopped and removed at the end. Engines that a crashed session left
    behind are reaped first."""
    made: dict[str, PrivateEngine] = {}
    if os.geteuid() == 0:
        reap()

    def make(name: str, store: Store = "containerd",
             data_root: Path | None = None) -> PrivateEngine:
        if os.geteuid() != 0:
            unavailable("a private engine needs root (it runs its own dockerd)")
        if name not in made:
            made[name] = PrivateEngine(f"{name}-{SESSION}", store, data_root)
        return _up(made[name])

    yield make
    for eng in made.values():
        eng.remove()


@pytest.fixture(scope="session")
def classic_host(engine: None) -> Iterator[str]:
    """DOCKER_HOST of a second, private engine with the classic image store (overlay2). Its
    data root is kept for the next session (tests/engines.py); the daemon is stopped at the end
    when this session started it (one that already ran, another session's, is left running).
    At the end, only the images this session tagged there are removed."""
    started: PrivateEngine | None = None
    if os.environ.get("BUILDORCH_CLASSIC_HOST"):
        host = os.environ["BUILDORCH_CLASSIC_HOST"]
    elif os.geteuid() != 0:
        unavailable("a private classic-store engine needs root (tests/engines.py); or set "
                    "BUILDORCH_CLASSIC_HOST to a classic-store engine")
    else:
        reap()
        eng = PrivateEngine(CLASSIC_ENGINE, "classic", keep=True)
        running = True
        try:
            eng.pid()
        except EngineError:
            running = False
        host = _up(eng).host
        started = None if running else eng
    yield host
    remove_images(session_images({"DOCKER_HOST": host}), {"DOCKER_HOST": host})
    if started is not None:
        started.down()


@pytest.fixture(params=["main", "classic"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the main engine (containerd store under scripts/engine.sh) and on the
    classic-store engine: DOCKER_HOST points every docker and buildorch call of the test at it."""
    request.getfixturevalue("engine")
    if request.param == "classic":
        monkeypatch.setenv("DOCKER_HOST", request.getfixturevalue("classic_host"))
    return str(request.param)


@pytest.fixture(scope="session", autouse=True)
def remove_test_images() -> Iterator[None]:
    """Remove, at the end of the session, every image the tests tagged (only those)."""
    yield
    if shutil.which("docker") is None:
        return
    remove_images(session_images())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that needs the engine carries the `engine` marker, so that
    # `pytest -m "not engine"` is the fast suite: the marker follows the fixture.
    for item in items:
        if {"engine", "store", "classic_host", "private_engines"} & set(
                getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)
