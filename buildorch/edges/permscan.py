"""The permission scan a plan keeps between runs, and the stamp of git's index it is kept
beside (`WorkTree.scan(perms_memo=...)` in `edges.git`).

BuildKit sees every permission bit of a file it copies; git records only 644 or 755, so the
files whose mode a checkout would not give are found by a scan of the tree (`find`), as slow as
`git status` itself on a big repository. A chmod moves only the file's ctime; buildorch's git
status (trustctime on) sees that, finds the content the same and rewrites the index. So while
the index is the one a scan was kept beside, the scan still holds for tracked files git does
not list (modified, untracked and ignored files are read from disk, mode and all).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from buildorch.edges.prestart import CHECKOUT_PERMS
from buildorch.edges.state import atomic_write

MEMO_VERSION = 1


def git_dir(root: Path) -> Path | None:
    """The repository's git folder: `.git`, or where a worktree's `.git` file points."""
    dot = root / ".git"
    if dot.is_dir():
        return dot
    try:
        text = dot.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    where = Path(text[len("gitdir:"):].strip())
    where = where if where.is_absolute() else root / where
    return where if where.is_dir() else None


class IndexStamp(NamedTuple):
    key: str          # changes whenever git rewrites the index
    written_ns: int   # the index's mtime


def index_stamp(root: Path) -> IndexStamp | None:
    """Git's index as `git status` just left it.

    A chmod moves only a file's ctime. The status (with trustctime on: prestart.STATUS) sees
    the ctime differ from the index's, finds the content the same, and rewrites the index with
    the new stat data. So while the stamp stays the same, no tracked, unmodified file's mode
    has moved since it was taken (a modified file is listed by status and read from disk
    anyway), with one exception: git may compare ctimes to the second only, so a chmod in the
    second the index was written can go unseen (`settled`). None when git cannot write the
    index (a read-only repository, another git holding `index.lock`) or there is none yet.
    Files git does not lstat (assume-unchanged, skip-worktree) are outside this, as their
    content is."""
    gd = git_dir(root)
    if gd is None or not os.access(gd, os.W_OK) or (gd / "index.lock").exists():
        return None
    try:
        with open(gd / "index", "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size < 32:
                return None
            f.seek(-32, os.SEEK_END)
            tail = f.read(32)   # the checksum (sha1 or sha256; zeros with index.skipHash)
    except OSError:
        return None
    return IndexStamp(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:"
                      f"{st.st_ctime_ns}:{tail.hex()}:{sorted(CHECKOUT_PERMS)}:{root}",
                      st.st_mtime_ns)


def settled(stamp: IndexStamp, now_ns: int) -> bool:
    """A scan started at `now_ns` may be kept beside `stamp`: every chmod after it falls in a
    later second than any ctime the index holds (all taken before the index was written), so
    the next status sees it and rewrites the index. 50 ms spare: file times come from a
    coarser clock than `time.time_ns`."""
    return now_ns >= (stamp.written_ns // 1_000_000_000 + 1) * 1_000_000_000 + 50_000_000


def read_memo(path: Path, stamp: IndexStamp | None) -> dict[str, int] | None:
    """The permission scan kept beside `stamp`, or None (another stamp, unreadable)."""
    if stamp is None:
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != MEMO_VERSION or \
            data.get("index") != stamp.key or not isinstance(perms := data.get("perms"), dict):
        return None
    if not all(isinstance(v, int) for v in perms.values()):
        return None
    return {str(k): v for k, v in perms.items()}


def write_memo(path: Path, stamp: IndexStamp, perms: Mapping[str, int]) -> None:
    """Best effort: a memo that cannot be written means a scan next time."""
    with contextlib.suppress(OSError):
        atomic_write(path, json.dumps({"version": MEMO_VERSION, "index": stamp.key,
                                       "perms": perms}, separators=(",", ":")).encode(
                                           "utf-8", "surrogateescape"))
