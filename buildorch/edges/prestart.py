"""`git status` and the permission scan, started before Python imports the rest.

They are most of a no-change plan's time and need only the repository root, so a `plan` or
`build` starts them first thing (at the root of the repository holding the working folder);
`WorkTree.scan` takes them over when its root is that one, and they are killed at exit when
nothing did (another `--config`, an early error).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
from pathlib import Path

from buildorch.edges import proc

# -uall lists every untracked file; --ignored=matching lists an ignored directory once (the
# tree walks it: Docker sends ignored files too).
STATUS = ("status", "--porcelain=v1", "-z", "-uall", "--ignored=matching", "--no-renames")
_UMASK = os.umask(0o022)
os.umask(_UMASK)
# Permissions a git checkout gives files under this process's umask (read once, at import).
CHECKOUT_PERMS = frozenset({0o666 & ~_UMASK, 0o777 & ~_UMASK})

Started = tuple["subprocess.Popen[bytes]", "subprocess.Popen[bytes] | None"]
_early: dict[str, Started] = {}


def status(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["git", *STATUS], cwd=root, env=proc.git_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def odd_permissions(root: Path) -> subprocess.Popen[bytes] | None:
    """`find` listing the files whose permissions a checkout would not give (None without
    find: the caller lstats instead)."""
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
    """Starts both at the top of the git repository holding `cwd`, if any."""
    d = os.path.realpath(cwd)
    while not os.path.exists(os.path.join(d, ".git")):
        parent = os.path.dirname(d)
        if parent == d:
            return
        d = parent
    try:
        root = Path(d)
        _early[d] = (status(root), odd_permissions(root))
    except OSError:
        return
    atexit.register(_stop)


def take(root: Path) -> Started | None:
    """The processes started early for `root`, once."""
    return _early.pop(os.path.realpath(root), None)


def _stop() -> None:
    for started in _early.values():
        for p in started:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    _early.clear()
