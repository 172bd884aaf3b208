"""The permission scan kept between plans (`WorkTree.scan(perms_memo=...)`): trusted only while
git's index is the one it was taken beside, and every mode change a checkout would not give is
seen all the same: the scan's answer with the memo equals a scan without it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.edges.git import WorkTree
from buildorch.edges.permscan import git_dir, index_stamp
from tests.helpers import git, settle_index, write_files

FILES = {"a.txt": "a\n", "sub/b.txt": "b\n", "sub/deep/c.txt": "c\n", "tool.sh": "#!/bin/sh\n",
         "secret.txt": "s\n", ".gitignore": "*.log\n"}
HOUR_AGO = time.time() - 3600


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_files(root, FILES)
    os.chmod(root / "tool.sh", 0o755)
    for rel in FILES:
        # older than the index: git never takes them as "racily clean", so its index is
        # rewritten only when something moves
        os.utime(root / rel, (HOUR_AGO, HOUR_AGO))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    os.chmod(root / "secret.txt", 0o600)   # a mode no checkout gives, kept by Docker
    settle_index(root)
    return root


def memo(root: Path) -> Path:
    return root.parent / f"state-{root.name}" / "perms.json"


def _seen(tree: WorkTree) -> tuple[dict[str, int], dict[str, str]]:
    """The scan's answer, and every tracked file's identity (its mode included) as a plan
    reads it."""
    odd = dict(tree.odd_perms())
    tracked = git(tree.root, "ls-files", "-z").split("\0")
    return odd, tree.file_ids(p for p in tracked if p and (tree.root / p).exists())


def with_memo(root: Path) -> tuple[dict[str, int], dict[str, str]]:
    return _seen(WorkTree.scan(root, perms_memo=memo(root)))


def without_memo(root: Path) -> tuple[dict[str, int], dict[str, str]]:
    return _seen(WorkTree.scan(root))


def tamper(root: Path) -> None:
    """The memo says what no scan would: only a memo taken as it is returns it."""
    data = json.loads(memo(root).read_text())
    data["perms"] = {"never-scanned": 0o700}
    memo(root).write_text(json.dumps(data))


def test_the_memo_is_used_while_the_index_stays_the_same(repo: Path) -> None:
    assert with_memo(repo) == without_memo(repo)
    assert with_memo(repo)[0] == {"secret.txt": 0o600}
    assert memo(repo).exists()
    tamper(repo)
    assert with_memo(repo)[0] == {"never-scanned": 0o700}


def _chmod_tracked(root: Path) -> None:
    os.chmod(root / "sub/deep/c.txt", 0o664)


def _chmod_back(root: Path) -> None:
    os.chmod(root / "secret.txt", 0o644)


def _chmod_executable(root: Path) -> None:
    os.chmod(root / "a.txt", 0o700)


def _chmod_modified(root: Path) -> None:
    (root / "sub/b.txt").write_text("b2\n")   # listed by status: read from disk anyway
    with_memo(root)
    os.chmod(root / "sub/b.txt", 0o600)


def _staged_untracked(root: Path) -> None:
    (root / "new.txt").write_text("n\n")
    os.chmod(root / "new.txt", 0o640)
    git(root, "add", "new.txt")


def _user_config_ignores_ctime(root: Path) -> None:
    git(root, "config", "core.trustctime", "false")
    git(root, "config", "core.checkStat", "minimal")
    os.chmod(root / "sub/b.txt", 0o660)


def _git_status_between(root: Path) -> None:
    # another git (an editor's) refreshes the index between two plans, with the user's config
    git(root, "config", "core.trustctime", "false")
    os.chmod(root / "tool.sh", 0o750)
    git(root, "status", "--porcelain")


@pytest.mark.parametrize("change", [
    _chmod_tracked, _chmod_back, _chmod_executable, _chmod_modified, _staged_untracked,
    _user_config_ignores_ctime, _git_status_between,
], ids=lambda f: f.__name__.strip("_"))
def test_every_mode_change_is_seen_through_the_memo(
        repo: Path, change: Callable[[Path], None]) -> None:
    with_memo(repo)
    change(repo)
    truth = without_memo(repo)
    assert with_memo(repo) == truth
    assert with_memo(repo) == truth   # and the memo taken now holds it


def test_a_held_index_lock_means_a_scan(repo: Path) -> None:
    with_memo(repo)
    tamper(repo)
    gd = git_dir(repo)
    assert gd is not None
    (gd / "index.lock").write_text("")   # another git at work: status cannot rewrite the index
    try:
        assert index_stamp(repo) is None
        assert with_memo(repo)[0] == {"secret.txt": 0o600}
    finally:
        (gd / "index.lock").unlink()


def test_a_worktree_finds_its_own_index(repo: Path) -> None:
    other = repo.parent / "other"
    git(repo, "worktree", "add", "-q", str(other), "-b", "side")
    gd = git_dir(other)
    assert gd is not None and gd.is_relative_to(repo / ".git" / "worktrees")
    os.chmod(other / "a.txt", 0o600)
    settle_index(other)
    assert with_memo(other) == without_memo(other)
    assert with_memo(other)[0] == {"a.txt": 0o600}
    tamper(other)
    assert with_memo(other)[0] == {"never-scanned": 0o700}


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b'{"version": 1, "index": 3}',
                                    b'{"version": 1, "perms": {"a": "x"}}'])
def test_a_damaged_memo_is_a_scan(repo: Path, damage: bytes) -> None:
    with_memo(repo)
    data = json.loads(memo(repo).read_text())
    memo(repo).write_bytes(damage.replace(b"3", json.dumps(data["index"]).encode()))
    assert with_memo(repo)[0] == {"secret.txt": 0o600}
