"""`.buildorch/`: the manifest of the last good build, the history, the locks. All writes atomic."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from buildorch.errors import BuildorchError

SCHEMA_VERSION = 1
# Read once, at import (single-threaded): os.umask can only be read by setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
MANIFEST = "manifest.json"
HISTORY = "history.jsonl"
# The state folder ignores itself, as pytest, mypy and ruff caches do: nothing in the user's
# .gitignore to edit, and a nested .gitignore outranks the repository's own rules.
GITIGNORE = b"# written by buildorch: its state is local, never committed\n*\n"


def str_mapping(v: object) -> dict[str, str]:
    """A JSON object as str -> str (ValueError if it is not an object)."""
    if not isinstance(v, dict):
        raise ValueError("expected an object")
    return {str(k): str(x) for k, x in v.items()}


@dataclass(frozen=True)
class Record:
    """One image in the manifest, and what the plan compares: the digest and the parts it was
    made of (`planning/digest.py` computes it; kept here, with its JSON form, as the manifest's
    entry)."""

    digest: str
    instructions: str
    args: Mapping[str, str]
    target: str | None
    platform: str | None
    parents: Mapping[str, str]               # parent name -> its digest
    files: Mapping[str, str] | None = None   # None when not recorded
    dockerfile: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)   # services.toml `labels`
    # where reads through a parent's trigger or a named context come from (for reasons only;
    # not stored: the digest already holds the files)
    origins: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "digest": self.digest, "instructions": self.instructions, "args": dict(self.args),
            "target": self.target, "platform": self.platform, "parents": dict(self.parents),
            "files": None if self.files is None else dict(self.files),
            "dockerfile": self.dockerfile}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Record:
        files = d.get("files")
        if files is not None and not isinstance(files, dict):
            raise ValueError("files: expected an object")
        return cls(
            digest=str(d["digest"]), instructions=str(d.get("instructions", "")),
            args=str_mapping(d.get("args", {})),
            target=None if d.get("target") is None else str(d.get("target")),
            platform=None if d.get("platform") is None else str(d.get("platform")),
            parents=str_mapping(d.get("parents", {})),
            # Taken as parsed (path -> id strings): converting 50,000 entries one by one would
            # cost a no-change plan more than reading them.
            files=files,
            dockerfile=str(d.get("dockerfile", "")),
            labels=str_mapping(d.get("labels", {})),
        )


@dataclass(frozen=True)
class Manifest:
    records: Mapping[str, Record] = field(default_factory=dict)
    built: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # image_id, time
    warning: str | None = None   # why the manifest was not usable (then every image is stale)


def atomic_write(path: Path, data: bytes, *, executable: bool = False) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old or the new, never half.
    `executable`: the mode a script gets (a git hook), never a moment without it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp makes 0600; a state file is an ordinary file
        os.fchmod(fd, (0o777 if executable else 0o666) & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _flock(path: Path, *, blocking: bool, mark: bool = True) -> Iterator[bool]:
    """`mark`: write our pid into the file once we hold it (a probe that only looks does not)."""
    make_state_dir(path.parent)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            if not blocking and mark:
                f.seek(0)
                f.truncate()
                f.write(f"{os.getpid()}\n")
                f.flush()
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def make_state_dir(state_dir: Path) -> None:
    """The state folder, with its own `.gitignore` (`*`) on first use. Written whole or not at
    all (a temp file hard-linked into place), never over one that is there already: a user's
    own stays as it is."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / ".gitignore"
    if path.exists() or path.is_symlink():
        return
    fd, tmp = tempfile.mkstemp(prefix=".gitignore.", dir=state_dir)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(GITIGNORE)
        with contextlib.suppress(FileExistsError):   # another run wrote it first
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def check_writable(state_dir: Path) -> None:
    """Before a run writes anything: the state folder is a folder we can write, or one line
    saying what to do (never a traceback half-way through a build)."""
    if state_dir.exists() and not state_dir.is_dir():
        raise BuildorchError(
            f"{state_dir} is a file, but buildorch keeps its manifest, history and logs in a "
            "folder of that name: move the file away (or pass --config for another repository)")
    try:
        make_state_dir(state_dir)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=state_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BuildorchError(
            f"{state_dir} is not writable ({exc.strerror or exc}): make it writable "
            f"(`chmod -R u+w {state_dir}`, or run as its owner)") from None


class LockHeld(BuildorchError):
    """Another run holds the build lock (`watch` waits for it; a command says so)."""


def _holder(lock: Path) -> str:
    try:
        return lock.read_text().strip() or "?"
    except OSError:
        return "?"


def _watching(state_dir: Path) -> str | None:
    """The pid of the `buildorch watch` running in this repository, if one is."""
    lock = state_dir / "watch.lock"
    if not lock.exists():
        return None
    with _flock(lock, blocking=False, mark=False) as got:
        return None if got else _holder(lock)


@contextlib.contextmanager
def build_lock(state_dir: Path) -> Iterator[None]:
    """One build per repository at a time; a second one is told, not queued."""
    lock = state_dir / "build.lock"
    with _flock(lock, blocking=False) as got:
        if not got:
            holder = _holder(lock)
            if _watching(state_dir) == holder:
                raise LockHeld(
                    f"buildorch watch (pid {holder}) is building in this repository: its "
                    "round ends by itself; run this again then, or stop the watch (^C)")
            raise LockHeld(
                f"another buildorch build is running in this repository (pid {holder}); "
                "wait for it to finish or stop it"
            )
        yield


@contextlib.contextmanager
def watch_lock(state_dir: Path) -> Iterator[None]:
    """One `buildorch watch` per repository; held while it runs (its rounds take the build
    lock like any build, so a build between rounds runs, and one during a round is told)."""
    lock = state_dir / "watch.lock"
    with _flock(lock, blocking=False) as got:
        if not got:
            raise BuildorchError(
                f"buildorch watch is already running in this repository (pid {_holder(lock)}):"
                " one watch per repository; use that one, or stop it first")
        yield


def load_manifest(state_dir: Path) -> Manifest:
    path = state_dir / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Manifest()
    except OSError as exc:
        return Manifest(warning=f"{path}: cannot read ({exc.strerror}); planning every image")
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        version = data.get("schema_version")
        if not isinstance(version, int):
            raise ValueError("no schema_version")
        if version > SCHEMA_VERSION:
            return Manifest(warning=(
                f"{path} was written by a newer buildorch (schema {version}, this one reads "
                f"{SCHEMA_VERSION}); planning every image — upgrade buildorch to keep it"))
        images = data.get("images", {})
        records = {str(n): Record.from_json(d) for n, d in images.items()}
        built = {str(n): {k: d.get(k) for k in ("image_id", "built_at")}
                 for n, d in images.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Manifest(warning=(
            f"{path} is corrupt ({exc}); planning every image — the next good build rewrites it"))
    return Manifest(records, built)


def _dump(records: Mapping[str, Record], built: Mapping[str, Mapping[str, object]]) -> bytes:
    images = {}
    for name in sorted(records):
        d = records[name].to_json()
        d.update(built.get(name, {}))
        images[name] = d
    # One image per line: readable in a diff, and compact where it is big (the file maps).
    lines = [f" {json.dumps(n)}: {json.dumps(d, sort_keys=True, separators=(',', ':'))}"
             for n, d in images.items()]
    return (f'{{"schema_version": {SCHEMA_VERSION}, "images": {{\n'
            + ",\n".join(lines) + "\n}}\n").encode()


def record_built(state_dir: Path, name: str, record: Record, image_id: str | None) -> None:
    """Add one image to the manifest (after each successful build)."""
    record_many(state_dir, {name: (record, image_id)})


def record_many(state_dir: Path, built: Mapping[str, tuple[Record, str | None]]) -> None:
    """Read-modify-write under a lock, written atomically: concurrent builds lose nothing."""
    with _flock(state_dir / "manifest.lock", blocking=True):
        current = load_manifest(state_dir)
        records = dict(current.records)
        meta = dict(current.built)
        now = time.time()
        for name, (record, image_id) in built.items():
            records[name] = record
            meta[name] = {"image_id": image_id, "built_at": now}
        atomic_write(state_dir / MANIFEST, _dump(records, meta))


def write_failure(state_dir: Path, exc: OSError) -> str:
    """One line for a state write that failed (a full disk, a read-only folder): which file,
    how much room is left there, and that the previous manifest is still whole (writes are
    atomic)."""
    try:
        st = os.statvfs(state_dir)
        room = f"; {st.f_bavail * st.f_frsize // 1024} KiB free there"
    except OSError:
        room = ""
    return (f"could not write the manifest in {state_dir} ({exc.strerror or exc}{room}): free "
            "space there (or make it writable) and build again; the previous manifest is kept "
            "whole, so this image is built again next time")


def append_history(state_dir: Path, *entries: Mapping[str, object]) -> None:
    """One line per entry, all in one write() with O_APPEND: concurrent writers never
    interleave, and a run's up-to-date images cost one write, not one each."""
    if not entries:
        return
    make_state_dir(state_dir)
    data = "".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n"
                   for e in entries)
    fd = os.open(state_dir / HISTORY, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def read_history(state_dir: Path) -> list[dict[str, object]]:
    """Every readable entry; lines that are not JSON objects (a torn write, binary junk) are
    skipped, never rewritten: nothing of the file is lost."""
    out: list[dict[str, object]] = []
    try:
        data = (state_dir / HISTORY).read_bytes()
    except OSError:   # missing, or .buildorch is not a folder: no history to read
        return out
    for line in data.splitlines():
        with contextlib.suppress(ValueError):   # UnicodeDecodeError is a ValueError
            d = json.loads(line.decode("utf-8"))
            if isinstance(d, dict):
                out.append(d)
    return out
