"""A `.git` that git refuses gives one line saying so and what to do, never git's `fatal:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import bo, write_files

FILES = {"Dockerfile": "FROM busybox:1.36\nCOPY a.txt /a\n", "a.txt": "a\n",
         "services.toml": '[services.app]\ndockerfile = "Dockerfile"\n'}


@pytest.mark.parametrize("broken", ["empty .git folder", ".git file naming a missing gitdir"])
@pytest.mark.parametrize("command", [("plan",), ("validate",), ("graph",), ("init", "--dry-run"),
                                     ("plan", "--since", "HEAD"), ("hook", "install")])
def test_broken_git_is_one_clear_line(tmp_path: Path, broken: str,
                                      command: tuple[str, ...]) -> None:
    repo = tmp_path / "repo"
    write_files(repo, FILES)
    if broken.startswith("empty"):
        (repo / ".git").mkdir()
    else:
        (repo / ".git").write_text(f"gitdir: {tmp_path}/gone/.git/worktrees/x\n")
    proc = bo(repo, *command)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "fatal:" not in lines[0] and "Traceback" not in proc.stderr
    assert f"{repo}/.git is not a repository git can read" in lines[0]
    assert "repair it, or remove it" in lines[0]
