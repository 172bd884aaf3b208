"""`.buildorch/inputs-cache/`: each image's inputs as last computed, for a plan to reuse.

`index.json` holds one small entry per image (its keys, the parts of its inputs, its digest);
the file maps (the bulk: 200,000 paths on a big repository) live in append-only segment files
and are read only when a digest must be computed again or a reason names a file. Every entry's
map carries its sha256, checked when read. Anything unreadable, partial or of another version
is a miss, never an error: the cache only ever saves work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from buildorch.edges.state import atomic_write

VERSION = 1
FOLDER = "inputs-cache"
INDEX = "index.json"
PERMS = "perms.json"   # the permission scan, kept by edges.git beside git's index stamp
MAX_SEGMENTS = 8   # past this many segment files, the next write compacts them into one


class LazyMapping(Mapping[str, str]):
    """A str -> str mapping read on first use: a subclass says how (`_load`, kept once)."""

    def _load(self) -> Mapping[str, str]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


class LazyFiles(LazyMapping):
    """A file map read from its segment on first use; `fallback` computes it again when the
    stored bytes are gone or do not match their sha256."""

    def __init__(self, read: Callable[[], bytes | None], sha: str,
                 fallback: Callable[[], Mapping[str, str]]) -> None:
        self._read, self._sha, self._fallback = read, sha, fallback
        self._data: Mapping[str, str] | None = None
        self.raw: bytes | None = None   # the stored bytes, when they were valid

    def _load(self) -> Mapping[str, str]:
        if self._data is None:
            raw = self._read()
            data: object = None
            if raw is not None and hashlib.sha256(raw).hexdigest() == self._sha:
                with contextlib.suppress(ValueError):
                    data = json.loads(raw)
            if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
                self._data, self.raw = data, raw
            else:
                self._data = dict(self._fallback())
        return self._data

    def stored(self) -> bytes | None:
        """The valid stored bytes, without decoding them (None if they are not valid)."""
        if self._data is None:
            raw = self._read()
            if raw is not None and hashlib.sha256(raw).hexdigest() == self._sha:
                return raw
            return None
        return self.raw


class Store:
    """One repository's input cache: load once, `put` what was computed, `save` once."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / FOLDER
        self.entries: dict[str, dict[str, object]] = {}
        self._segments: dict[str, int | None] = {}   # name -> open fd (None: unreadable)
        self._new: dict[str, bytes] = {}             # image name -> file map bytes to write
        self.dirty = False
        self.manifest: object = None   # the manifest without file maps, with its stamp

    @classmethod
    def load(cls, state_dir: Path, stamp: str) -> Store:
        store = cls(state_dir)
        try:
            data = json.loads((store.folder / INDEX).read_bytes())
        except (OSError, ValueError):
            return store
        if not isinstance(data, dict) or data.get("version") != VERSION or \
                data.get("stamp") != stamp or not isinstance(data.get("images"), dict):
            return store
        store.entries = {str(k): v for k, v in data["images"].items() if isinstance(v, dict)}
        store.manifest = data.get("manifest")
        return store

    def _fd(self, segment: str) -> int | None:
        if segment not in self._segments:
            fd: int | None = None
            if segment.startswith("files-") and "/" not in segment:
                with contextlib.suppress(OSError):
                    # Kept open: a concurrent writer may remove the file, never its content.
                    fd = os.open(self.folder / segment, os.O_RDONLY)
            self._segments[segment] = fd
        return self._segments[segment]

    def reader(self, where: object) -> Callable[[], bytes | None]:
        """Reads the bytes an entry's `files` field points at (None if it cannot)."""
        def read() -> bytes | None:
            if not (isinstance(where, list) and len(where) == 3 and isinstance(where[0], str)
                    and isinstance(where[1], int) and isinstance(where[2], int)):
                return None
            fd = self._fd(where[0])
            if fd is None or where[1] < 0 or where[2] < 0:
                return None
            try:
                raw = os.pread(fd, where[2], where[1])
            except OSError:
                return None
            return raw if len(raw) == where[2] else None
        return read

    def put(self, name: str, entry: dict[str, object], files: bytes) -> None:
        self.entries[name] = entry
        self._new[name] = files
        self.dirty = True

    def touch(self) -> None:
        self.dirty = True

    def save(self, stamp: str, keep: Callable[[str], bool]) -> None:
        """Writes the new file maps as one segment, then the index (atomically, in that
        order). Entries `keep` refuses are dropped. Best effort: a read-only state folder
        just means no reuse next time."""
        if not self.dirty:
            return
        entries = {n: e for n, e in self.entries.items() if keep(n)}
        new = {n: b for n, b in self._new.items() if n in entries}
        used = {e["files"][0] for n, e in entries.items()  # type: ignore[index]
                if n not in new and isinstance(e.get("files"), list)}
        if len(used) >= MAX_SEGMENTS:   # compact: copy every valid map into the new segment
            for n, e in entries.items():
                if n not in new:
                    raw = self.reader(e.get("files"))()
                    if raw is not None:
                        new[n] = raw
            entries = {n: e for n, e in entries.items() if n in new}
            used = set()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if new:
                segment = f"files-{os.urandom(8).hex()}"
                offset, chunks = 0, []
                for n, raw in new.items():
                    entries[n]["files"] = [segment, offset, len(raw)]
                    chunks.append(raw)
                    offset += len(raw)
                atomic_write(self.folder / segment, b"".join(chunks))
                used.add(segment)
            atomic_write(self.folder / INDEX, json.dumps(
                {"version": VERSION, "stamp": stamp, "images": entries,
                 "manifest": self.manifest},
                separators=(",", ":")).encode())
            for p in self.folder.glob("files-*"):
                if p.name not in used:
                    with contextlib.suppress(OSError):
                        p.unlink()
        except OSError:
            return


def manifest_stamp(path: Path) -> str | None:
    """Changes whenever the manifest is rewritten (atomic writes give a new inode; ctime
    moves on any write)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def manifest_line(path: Path, name: str) -> dict[str, object] | None:
    """One image's object from the manifest, parsed alone (the manifest is written one image
    per line); None when it cannot be found that way."""
    key = f" {json.dumps(name)}: ".encode()
    try:
        data = path.read_bytes()
    except OSError:
        return None
    at = data.find(b"\n" + key)
    if at < 0:
        return None
    end = data.find(b"\n", at + 1)
    line = data[at + 1 + len(key): len(data) if end < 0 else end].rstrip().rstrip(b",")
    try:
        d = json.loads(line)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None
