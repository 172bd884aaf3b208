"""Shallow and partial histories, as CI checkouts make them: a `--since` ref or a pushed
remote sha that the clone does not hold is one line naming the ref and the commit, "shallow
clone" when it is one, and the fetch that fixes it; where a safe baseline exists it is used and
said in one line. No engine: every case ends before anything builds."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import GIT_ENV, bo, git, write_files

FILES = {"Dockerfile": "FROM busybox:1.36\nCOPY a.txt /a\n", "a.txt": "a\n",
         "README.md": "readme\n",
         "services.toml": '[services.app]\ndockerfile = "Dockerfile"\n'}
FIX = ("`git fetch --deepen=", "`git fetch --unshallow`", "`fetch-depth: 0` in actions/checkout")


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A repository of four commits, each changing a.txt."""
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    write_files(src, FILES)
    commit_all(src, "1")
    for i in range(2, 5):
        (src / "a.txt").write_text(f"a{i}\n")
        commit_all(src, str(i))
    return src


def clone(origin: Path, dest: Path, *args: str) -> Path:
    git(origin.parent, "clone", "-q", *args, f"file://{origin}", str(dest))
    return dest


def one_error(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in p.stderr and "fatal:" not in p.stderr
    return lines[0]


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("command", [("plan",), ("build", "--dry-run"), ("ci", "matrix")])
def test_since_beyond_a_shallow_clone_is_one_line_with_the_fix(
        origin: Path, tmp_path: Path, depth: int, command: tuple[str, ...]) -> None:
    repo = clone(origin, tmp_path / f"d{depth}", f"--depth={depth}")
    assert (repo / ".git" / "shallow").exists()
    ref = f"HEAD~{depth}"
    missing = git(origin, "rev-parse", f"main~{depth}").strip()
    line = one_error(bo(repo, *command, "--since", ref))
    assert f"--since {ref} ({missing[:10]})" in line
    assert "shallow clone" in line
    assert f"--deepen={depth} origin" in line
    for fix in FIX:
        assert fix in line, line


def test_since_inside_a_shallow_clone_still_plans(origin: Path, tmp_path: Path) -> None:
    repo = clone(origin, tmp_path / "d2", "--depth=2")
    p = bo(repo, "plan", "--since", "HEAD~1")
    assert p.returncode == 0, p.stderr
    assert "input changed: a.txt" in p.stdout


def test_a_partial_history_without_shallow_file_says_so(origin: Path, tmp_path: Path) -> None:
    """The parent's objects gone from a full clone (as after a broken fetch or a grafted
    history): the same one line, without "shallow", with the fetch."""
    repo = clone(origin, tmp_path / "full", "--no-local")
    parent = git(repo, "rev-parse", "HEAD~1").strip()
    # HEAD~1 still names the parent (HEAD's commit holds its sha); its tree is then removed.
    git(repo, "repack", "-adq")
    unpack_without(repo, {git(repo, "rev-parse", f"{parent}^{{tree}}").strip()})
    line = one_error(bo(repo, "plan", "--since", "HEAD~1"))
    assert f"--since HEAD~1 ({parent[:10]})" in line
    assert "shallow" not in line and "`git fetch origin`" in line


def unpack_without(repo: Path, drop: set[str]) -> None:
    """Replace the repository's packs with loose objects, minus `drop`."""
    pack_dir = repo / ".git" / "objects" / "pack"
    packs = sorted(pack_dir.glob("*.pack"))
    env = {**os.environ, **GIT_ENV}
    for pack in packs:
        data = pack.read_bytes()
        pack.unlink()
        pack.with_suffix(".idx").unlink()
        subprocess.run(["git", "unpack-objects", "-q"], cwd=repo, input=data, check=True,
                       env=env)
    for sha in drop:
        (repo / ".git" / "objects" / sha[:2] / sha[2:]).unlink()


def test_unknown_ref_blob_and_empty_repository_are_one_line_each(
        origin: Path, tmp_path: Path) -> None:
    line = one_error(bo(origin, "plan", "--since", "no-such-branch"))
    assert "--since no-such-branch: not a commit" in line and "git fetch origin" in line
    blob = git(origin, "rev-parse", "HEAD:a.txt").strip()
    line = one_error(bo(origin, "plan", "--since", blob))
    assert f"--since {blob}: not a commit: it names a blob" in line
    line = one_error(bo(origin, "plan", "--since", "HEAD^{tree}"))
    assert "it names a tree" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    write_files(empty, FILES)
    line = one_error(bo(empty, "plan", "--since", "HEAD"))
    assert "has no commit yet" in line
    assert bo(empty, "plan").returncode == 0   # without --since: planned from the manifest


def push(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BUILDORCH_SKIP"}
    env.update(GIT_ENV)
    return subprocess.run(["git", "push", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("depth", [None, 1])
def test_force_push_over_commits_this_clone_lacks_compares_with_the_nearest(
        origin: Path, tmp_path: Path, depth: int | None) -> None:
    """Someone else pushed a commit this clone never fetched; this clone force-pushes its own:
    git hands the hook a remote sha it lacks. The hook compares with the merge-base with
    origin/main and says so in one line; nothing stale here, so nothing builds."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(remote))
    mine = clone(remote, tmp_path / "mine", *(("--depth=1",) if depth else ()))
    theirs = clone(remote, tmp_path / "theirs")
    (theirs / "README.md").write_text("theirs\n")
    theirs_sha = commit_all(theirs, "theirs")
    assert push(theirs, "origin", "main").returncode == 0
    base = git(mine, "rev-parse", "HEAD").strip()
    (mine / "README.md").write_text("mine\n")
    commit_all(mine, "mine")
    assert bo(mine, "hook", "install").returncode == 0
    p = push(mine, "--force", "origin", "main")
    assert p.returncode == 0, p.stderr
    said = [ln for ln in p.stderr.splitlines() if "buildorch" in ln]
    assert len(said) == 1, said
    where = "shallow clone" if depth else "clone"
    assert f"the remote's refs/heads/main ({theirs_sha[:10]}) is not in this {where}" in said[0]
    assert "merge-base with origin/main" in said[0] and base[:10] in said[0]
    assert "nothing to build" in said[0]
