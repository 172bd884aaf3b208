"""The one subprocess helper: argv lists only, failures shown with their output. Git goes through
`edges.git` (its one door), which uses `git_env` from here (kept in `gitenv`). Every `docker`
subprocess is pinned here to the engine of the run (`docker_env`), so that no docker CLI call
resolves another."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

from buildorch.edges.endpoint import docker_env
from buildorch.edges.gitenv import git_env
from buildorch.errors import BuildorchError

__all__ = ["CalledProcessError", "cancel_on_signals", "docker_env", "git_env", "run"]


class CalledProcessError(BuildorchError):
    def __init__(self, argv: Sequence[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        tail = (stderr or stdout).decode("utf-8", "replace").strip().splitlines()[-5:]
        super().__init__(
            f"command failed (exit {returncode}): {' '.join(argv)}"
            + ("\n  " + "\n  ".join(tail) if tail else "")
        )


def run(argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    if argv and argv[0] == "docker":
        env = docker_env(env)
    try:
        proc = subprocess.run(list(argv), cwd=cwd, env=env, input=input, capture_output=True)
    except FileNotFoundError:
        raise BuildorchError(f"{argv[0]} not found on PATH: install it") from None
    if check and proc.returncode != 0:
        raise CalledProcessError(argv, proc.returncode, proc.stdout, proc.stderr)
    return proc


@contextlib.contextmanager
def cancel_on_signals(cancel: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `cancel` instead of raising (in the main thread only): what runs is
    then stopped cleanly, by its owner."""

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
