"""The watcher on real folders and the OS's own notifications (inotify here): only the folders
asked for are watched, each on its own, and a burst comes as one batch."""

from __future__ import annotations

import queue
import sys
import time
from pathlib import Path

import pytest

from buildorch.edges.watcher import Batch, Watcher
from buildorch.errors import BuildorchError


def inotify_watches() -> int | None:
    """How many inotify watches this process holds (Linux: /proc/self/fdinfo)."""
    if not sys.platform.startswith("linux"):
        return None
    n = 0
    for fd in Path("/proc/self/fdinfo").iterdir():
        try:
            n += sum(1 for line in fd.read_text().splitlines() if line.startswith("inotify wd:"))
        except OSError:
            continue
    return n


class Inbox:
    def __init__(self) -> None:
        self.q: queue.Queue[Batch | BuildorchError] = queue.Queue()

    def batches(self, wait: float) -> list[Batch]:
        out: list[Batch] = []
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self.q.get(timeout=left)
            except queue.Empty:
                break
            assert not isinstance(item, BuildorchError), item
            out.append(item)
        return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for d in ("a/sub", "b", "c"):
        (tmp_path / d).mkdir(parents=True)
    return tmp_path


def test_only_the_folders_asked_for_each_on_its_own(tree: Path) -> None:
    inbox = Inbox()
    before = inotify_watches()
    w = Watcher(tree, inbox.q.put, inbox.q.put)
    try:
        w.watch(["a", "c"])
        time.sleep(0.3)
        if before is not None:
            assert inotify_watches() == before + 2   # a and c: not a/sub, not b, not the root
        (tree / "a/x.txt").write_text("1")
        (tree / "a/sub/y.txt").write_text("1")     # below a: not watched
        (tree / "b/z.txt").write_text("1")         # not watched
        got = [p for batch in inbox.batches(1.0) for _, p in batch]
        assert got == ["a/x.txt"]
        # a new set of folders is taken up; the old ones stop
        w.watch(["b"])
        time.sleep(0.3)
        (tree / "a/x.txt").write_text("2")
        (tree / "b/z.txt").write_text("2")
        got = [p for batch in inbox.batches(1.0) for _, p in batch]
        assert got == ["b/z.txt"]
    finally:
        w.close()


def test_a_burst_is_one_batch_with_kinds(tree: Path) -> None:
    inbox = Inbox()
    (tree / "a/old.txt").write_text("x")
    w = Watcher(tree, inbox.q.put, inbox.q.put)
    try:
        w.watch(["a"])
        time.sleep(0.3)
        for i in range(300):
            (tree / f"a/f{i}.txt").write_text(str(i))
        (tree / "a/old.txt").unlink()
        batches = inbox.batches(1.5)
        assert len(batches) == 1
        kinds = dict((p, k) for k, p in batches[0])
        assert len(kinds) == 301 and kinds["a/old.txt"] == "deleted"
        assert kinds["a/f7.txt"] == "added"
    finally:
        w.close()
