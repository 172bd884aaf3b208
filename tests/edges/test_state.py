"""The manifest: versioned, atomic, locked; bad manifests give a message and a full plan."""

from __future__ import annotations

import json
import multiprocessing
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.edges.state import (
    GITIGNORE,
    SCHEMA_VERSION,
    Record,
    append_history,
    build_lock,
    load_manifest,
    make_state_dir,
    read_history,
    record_built,
)
from buildorch.errors import BuildorchError
from tests.helpers import PREFIX, bo, git, seed


def _rec(d: str) -> Record:
    return Record(digest=d, instructions="i", args={"A": "1"}, target=None, platform=None,
                  parents={"base": "b"}, files={"x.txt": "100644:abc"}, dockerfile="Dockerfile")


def test_round_trip(tmp_path: Path) -> None:
    record_built(tmp_path, "svc", _rec("d1"), "sha256:1")
    record_built(tmp_path, "base", _rec("d2"), None)
    m = load_manifest(tmp_path)
    assert m.warning is None
    assert m.records["svc"] == _rec("d1") and m.records["base"].digest == "d2"
    assert m.built["svc"]["image_id"] == "sha256:1"
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".manifest.json.")]


def test_missing_manifest_is_empty_without_warning(tmp_path: Path) -> None:
    m = load_manifest(tmp_path)
    assert m.records == {} and m.warning is None


@pytest.mark.parametrize("content,word", [
    (b"{not json", "corrupt"),
    (b"[]", "corrupt"),
    (b'{"images": {}}', "corrupt"),
    (b'{"schema_version": 1, "images": {"a": {"nodigest": 1}}}', "corrupt"),
    (b'{"schema_version": 99, "images": {}}', "newer buildorch"),
])
def test_bad_manifest_gives_a_message_and_no_records(tmp_path: Path, content: bytes,
                                                     word: str) -> None:
    (tmp_path / "manifest.json").write_bytes(content)
    m = load_manifest(tmp_path)
    assert m.records == {} and m.warning is not None and word in m.warning


def _hold_lock(state: str, ready: multiprocessing.synchronize.Event,  # type: ignore[name-defined]
               done: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    with build_lock(Path(state)):
        ready.set()
        done.wait(10)


def test_second_build_lock_is_refused(tmp_path: Path) -> None:
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    p = multiprocessing.Process(target=_hold_lock, args=(str(tmp_path), ready, done))
    p.start()
    try:
        assert ready.wait(10)
        with pytest.raises(BuildorchError, match="another buildorch build is running"), \
                build_lock(tmp_path):
            pass
    finally:
        done.set()
        p.join(10)
    with build_lock(tmp_path):  # free again once the holder is gone
        pass


def _writer(state: str, k: int) -> None:
    for i in range(20):
        record_built(Path(state), f"img{k}-{i}", _rec(f"{k}-{i}"), None)
        append_history(Path(state), {"image": f"img{k}-{i}", "n": i})


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    procs = [multiprocessing.Process(target=_writer, args=(str(tmp_path), k)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert len(load_manifest(tmp_path).records) == 60
    assert len(read_history(tmp_path)) == 60


# -- the state folder ignores itself (issue 20) ----------------------------------------------

def _staged(repo: Path) -> list[str]:
    git(repo, "add", "-A")
    return git(repo, "diff", "--cached", "--name-only").split()


def test_the_state_folder_ignores_itself_and_keeps_a_users_own(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"services.toml": "[project]\n"})
    state = repo / ".buildorch"
    record_built(state, "svc", _rec("d1"), None)        # the manifest under its lock
    append_history(state, {"image": "svc"})
    with build_lock(state):
        pass
    assert (state / ".gitignore").read_bytes() == GITIGNORE
    assert _staged(repo) == []
    assert not [p for p in state.iterdir() if p.name.startswith(".gitignore.")]  # no temp left

    own = b"*\n!manifest.json\n"     # a team that shares its manifest: left as it is
    (state / ".gitignore").write_bytes(own)
    make_state_dir(state)
    record_built(state, "svc", _rec("d2"), None)
    assert (state / ".gitignore").read_bytes() == own
    assert _staged(repo) == [".buildorch/manifest.json"]


@pytest.mark.usefixtures("engine")
def test_after_a_build_git_add_stages_nothing_of_the_state(
        make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    # A negation in the repository's .gitignore does not reach into the folder: the nested
    # .gitignore outranks it (so init has nothing to say about it either).
    repo = make_repo({**seed(f"{PREFIX}{ns}", ns), ".gitignore": "!.buildorch\n!.buildorch/*\n"})
    p = bo(repo, "init", "--dry-run")
    assert p.returncode == 0 and ".buildorch" not in p.stderr, p.stderr
    p = bo(repo, "build", "--progress", "plain", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (repo / ".buildorch/manifest.json").is_file()
    assert len(list((repo / ".buildorch").rglob("*"))) > 10   # logs, metadata, cache, locks
    assert _staged(repo) == []
