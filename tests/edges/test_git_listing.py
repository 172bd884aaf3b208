"""A folder listed alone (`WorkTree.under` before the whole listing) is what the whole
listing says for it: tracked, staged, modified, deleted, untracked and ignored files, and
names that sort around the folder's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildorch.edges.git import WorkTree
from tests.helpers import git, write_files

FILES = {
    "svc/a/app.py": "A\n", "svc/a/lib/x.py": "X\n", "svc/a/gone.py": "G\n",
    "svc/a-b/other.py": "O\n", "svc/a.txt": "T\n", "svc/ab/z.py": "Z\n",
    "svc/a/staged.py": "S\n", "svc/b/tool.sh": "#!/bin/sh\n", "top.txt": "top\n",
    ".gitignore": "*.log\nbuild/\nsvc/a/cache/\n", "svc/a/mod.py": "M\n",
}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    write_files(tmp_path, FILES)
    os.chmod(tmp_path / "svc/b/tool.sh", 0o755)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "init")
    (tmp_path / "svc/a/gone.py").unlink()                       # deleted
    (tmp_path / "svc/a/mod.py").write_text("M2\n")               # modified
    (tmp_path / "svc/a/staged.py").write_text("S2\n")
    git(tmp_path, "add", "svc/a/staged.py")                      # staged
    (tmp_path / "svc/a/new.py").write_text("N\n")                # untracked
    (tmp_path / "svc/a/debug.log").write_text("L\n")             # ignored file
    (tmp_path / "svc/a/cache").mkdir()
    (tmp_path / "svc/a/cache/blob").write_text("B\n")            # ignored folder
    (tmp_path / "build").mkdir()
    (tmp_path / "build/out.txt").write_text("O\n")
    (tmp_path / "svc/a-b/new.py").write_text("N\n")
    os.chmod(tmp_path / "svc/a/app.py", 0o664)                   # a mode git does not keep
    return tmp_path


@pytest.mark.parametrize("folder", ["svc/a", "svc/a/lib", "svc/a-b", "svc", "svc/b",
                                    "svc/a/cache", "build", "nothing/here", "svc/a.txt"])
def test_a_folder_alone_is_the_whole_listing_s_slice(repo: Path, folder: str) -> None:
    whole = WorkTree.scan(repo)
    expected = list(whole.under(folder))
    expected_ids = whole.file_ids(expected)
    alone = WorkTree.scan(repo)
    got = list(alone.under(folder))
    assert got == expected
    assert alone.file_ids(got) == expected_ids
    assert alone._listed is (folder in ("svc/a/cache", "build"))   # ignored: listed whole


def test_the_folder_alone_skips_the_whole_listing(repo: Path) -> None:
    tree = WorkTree.scan(repo)
    got = list(tree.under("svc/a"))
    assert "svc/a/new.py" in got and "svc/a/gone.py" not in got
    assert "svc/a/cache/blob" in got and "svc/a/debug.log" in got
    assert not any(p.startswith(("svc/a-b", "svc/a.txt", "svc/ab")) for p in got)
    ids = tree.file_ids(got)
    assert not tree._listed
    assert ids["svc/a/app.py"].endswith(":perm664")
    assert ids["svc/a/lib/x.py"].startswith("100644:")
    tree.file_ids(["top.txt"])   # outside what was listed: the whole listing then
    assert tree._listed


def test_many_folders_read_again_parse_the_whole_listing_once(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from buildorch.edges import git as git_edge

    monkeypatch.setattr(git_edge, "MAX_PARTS", 2)
    whole = WorkTree.scan(repo)
    tree = WorkTree.scan(repo)
    for folder in ("svc/a/lib", "svc/b"):
        assert list(tree.under(folder)) == list(whole.under(folder))
    assert not tree._listed
    assert list(tree.under("svc/a-b")) == list(whole.under("svc/a-b"))
    assert tree._listed   # the third: the whole listing, parsed once
    paths = list(whole.paths())
    assert tree.file_ids(paths) == whole.file_ids(paths)
