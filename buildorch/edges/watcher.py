"""File notifications from the OS (inotify on Linux, FSEvents on macOS) through watchfiles.

Each folder is watched on its own, not recursively: `watch` watches only the folders that hold
a path an image reads, so a large tree it does not read costs nothing (no watch on it, no event
from it, nothing polled). The events come in on a thread of their own, debounced by watchfiles
(a burst ends after `QUIET_MS` without an event, or after `MAX_BURST_MS`), as batches of
(change, root-relative path) handed to `on_batch`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from buildorch.errors import BuildorchError

Batch = list[tuple[str, str]]   # ("added" | "modified" | "deleted", root-relative posix path)

QUIET_MS = 50
MAX_BURST_MS = 1600
# How long the Rust side waits before it looks at the stop flag again: the notifications
# themselves wake it at once, so this is only how fast a change of folders is taken up.
_TIMEOUT_MS = 1000


class Watcher:
    """One thread that watches a set of folders; `watch(folders)` changes the set."""

    def __init__(self, root: Path, on_batch: Callable[[Batch], None],
                 on_error: Callable[[BuildorchError], None]) -> None:
        self.root = root
        self.on_batch = on_batch
        self.on_error = on_error
        self._dirs: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._stop = threading.Event()     # the current watchfiles generator's
        self._closed = threading.Event()
        self._changed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="buildorch-watch", daemon=True)
        self._started = False

    def watch(self, dirs: Iterable[str], *, renew: bool = False) -> None:
        """Watch exactly these folders (root-relative; '' is the root) from now on. `renew`:
        watch them anew even if the set is the same (a folder removed and made again under
        its name is another inode: the OS dropped the old watch with the old folder)."""
        new = frozenset(dirs)
        with self._lock:
            if new == self._dirs and self._started and not renew:
                return
            self._dirs = new
            self._stop.set()            # the running generator ends; the loop takes the new set
            self._changed.set()
        if not self._started:
            self._started = True
            self._thread.start()

    @property
    def dirs(self) -> frozenset[str]:
        return self._dirs

    def close(self, timeout: float = 5.0) -> None:
        self._closed.set()
        self._stop.set()
        self._changed.set()
        if self._started:
            self._thread.join(timeout)

    def _run(self) -> None:
        import watchfiles

        while not self._closed.is_set():
            with self._lock:
                self._stop = stop = threading.Event()
                self._changed.clear()
                dirs = self._dirs
            paths = [str(self.root / d) for d in sorted(dirs) if (self.root / d).is_dir()]
            if not paths:
                self._changed.wait()
                continue
            try:
                for changes in watchfiles.watch(
                        *paths, watch_filter=None, debounce=MAX_BURST_MS, step=QUIET_MS,
                        stop_event=stop, rust_timeout=_TIMEOUT_MS, raise_interrupt=False,
                        recursive=False, ignore_permission_denied=True):
                    batch = [(c.name, self._relative(p)) for c, p in changes]
                    self.on_batch([(c, p) for c, p in batch if p is not None])
            except (OSError, RuntimeError) as exc:
                # e.g. inotify's per-user limit of watches reached
                self.on_error(BuildorchError(
                    f"cannot watch {len(paths)} folder(s) under {self.root}: {exc}; on Linux "
                    "raise fs.inotify.max_user_watches (sysctl), or watch fewer IMAGES"))
                return

    def _relative(self, path: str) -> str | None:
        try:
            rel = os.path.relpath(path, self.root)
        except ValueError:
            return None
        if rel.startswith(".."):
            return None
        return Path(rel).as_posix()
