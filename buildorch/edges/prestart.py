"""`git status`, started before Python imports the rest; the permission scan beside it.

`git status` is most of a no-change plan's time and needs only the repository root, so a
`plan` or `build` starts it first thing (at the root of the repository holding the working
folder); `WorkTree.scan` takes it over when its root is that one, and it is killed at exit
when nothing did (another `--config`, an early error). The permission scan (`find`) is not
started early: a plan runs it only when git's index says a tracked file's mode may have moved
(`edges.permscan.index_stamp`).
"""

from __future__ import annotations

import atexit
import os
import subprocess
from pathlib import Path

from buildorch.edges.gitenv import git_env

# -uall lists every untracked file; --ignored=matching lists an ignored directory once (the
# tree walks it: Docker sends ignored files too).
# trustctime and checkStat as git's defaults whatever the user's config: a chmod moves only
# the ctime, and this status must notice it (and rewrite the index: `permscan.index_stamp`).
STATUS = ("-c", "core.trustctime=true", "-c", "core.checkStat=default", "status",
          "--porcelain=v1", "-z", "-uall", "--ignored=matching", "--no-renames")
_UMASK = os.umask(0o022)
os.umask(_UMASK)
# Permissions a git checkout gives files under this process's umask (read once, at import).
CHECKOUT_PERMS = frozenset({0o666 & ~_UMASK, 0o777 & ~_UMASK})

_early: dict[str, subprocess.Popen[bytes]] = {}


def status(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["git", *STATUS], cwd=root, env=git_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def odd_permissions(root: Path) -> subprocess.Popen[bytes] | None:
    """`find` listing the files whose permissions a checkout would not give (None without
    find: the caller lstats instead)."""
    import shutil  # here: a plan that keeps its scan never needs it

    if not shutil.which("find"):
        return None
    perms = [a for m in sorted(CHECKOUT_PERMS) for a in ("!", "-perm", f"{m:04o}")]
    try:
        return subprocess.Popen(
            ["find", ".", "(", "-path", "./.git", "-o", "-path", "./.buildorch", ")", "-prune",
             "-o", "-type", "f", *perms, "-printf", "%P\\0%m\\0"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def start_early(cwd: str) -> None:
    """Starts `git status` at the top of the git repository holding `cwd`, if any."""
    d = os.path.realpath(cwd)
    while not os.path.exists(os.path.join(d, ".git")):
        parent = os.path.dirname(d)
        if parent == d:
            return
        d = parent
    try:
        root = Path(d)
        _early[d] = status(root)
    except OSError:
        return
    atexit.register(_stop)


def take(root: Path) -> subprocess.Popen[bytes] | None:
    """The `git status` started early for `root`, once."""
    return _early.pop(os.path.realpath(root), None)


def _stop() -> None:
    for p in _early.values():
        if p.poll() is None:
            p.kill()
            p.wait()
    _early.clear()
