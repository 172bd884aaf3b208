"""Tree views: the files of the working tree or of a git commit, each with a content identity.

A file's identity is `<mode>:<git blob id>`. Tracked, unmodified files take the blob id from the
index (no read); modified, untracked and git-ignored files are hashed from disk the same way
git would, so identical content has the same identity whichever way it was found. Docker sends
git-ignored files too, so they are part of the tree; `.git/` and `.buildorch/` are not (see
docs/explanation/staleness.md: add them to .dockerignore so Docker agrees).
"""

from __future__ import annotations

import bisect
import hashlib
import os
import posixpath
import re
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from buildorch.config import escapes
from buildorch.edges import permscan, prestart, proc
from buildorch.errors import BuildorchError

NEVER_SENT = (".git", ".buildorch")
RACY_NS = 2_000_000_000   # a file written this recently is never taken as unchanged
REGULAR, EXECUTABLE, SYMLINK = "100644", "100755", "120000"
_CHECKOUT_PERMS = prestart.CHECKOUT_PERMS


_PRUNE = frozenset({".git", ".buildorch", "node_modules", ".venv", "venv", ".tox", ".mypy_cache",
                    "__pycache__", ".pytest_cache"})


def repository_files(root: Path) -> list[str]:
    """The files a repository holds: tracked plus untracked-but-not-ignored ones (git's view),
    else every file below `root` outside tool and dependency folders. Sorted, posix."""
    if (root / ".git").exists():
        out = run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        found = {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}
        return sorted(p for p in found if (root / p).is_file())
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(n for n in dirnames if n not in _PRUNE)
        rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
        files += [n if rel == "." else f"{rel}/{n}" for n in filenames]
    return sorted(files)


def blob_id(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    h.update(data)
    return h.hexdigest()


def run(root: Path, *args: str, check: bool = True) -> bytes:
    """`git ARGS` in `root` with a clean environment (never the GIT_DIR & co. of a hook): the
    one door through which buildorch runs git. Returns stdout. A repository git refuses (a
    broken or foreign `.git`, a dubious-ownership check) is one line saying so and what to do,
    never git's raw `fatal:`."""
    done = proc.run(["git", *args], cwd=root, env=proc.git_env(), check=False)
    if check and done.returncode != 0:
        refused = refusal(root, done.stderr)
        if refused:
            raise BuildorchError(refused)
        raise proc.CalledProcessError(["git", *args], done.returncode, done.stdout, done.stderr)
    return done.stdout


def refusal(root: Path, stderr: bytes) -> str | None:
    """One line for git refusing the repository itself, or None for any other failure."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    fatal = next((x[len("fatal: "):] for x in lines if x.startswith("fatal: ")), "")
    if "not a git repository" in fatal or "not a gitdir" in fatal or "bad config" in fatal:
        return (f"{root}/.git is not a repository git can read ({fatal.rstrip('.')}): repair "
                "it, or remove it to use buildorch without git")
    if "dubious ownership" in fatal:
        return (f"git refuses {root}: it is owned by another user; run "
                f"`git config --global --add safe.directory {root}`")
    return None


def is_shallow(root: Path) -> bool:
    """`.git/shallow` exists: the clone stops at a depth (actions/checkout's default of 1)."""
    out = proc.run(["git", "rev-parse", "--is-shallow-repository"], cwd=root,
                   env=proc.git_env(), check=False).stdout
    return out.strip() == b"true"


def missing_commit(root: Path, ref: str, sha: str, label: str = "--since") -> str:
    """One line for a commit (or its tree) that this clone does not hold, with the fetch that
    brings it. `ref` is what the user named (`HEAD~2`, `origin/main`, a remote sha)."""
    m = re.fullmatch(r".*[~^](\d*)", ref)
    depth = int(m.group(1) or 1) if m else 50
    what = f"{label} {ref} ({sha[:10]})" if not ref.startswith(sha[:10]) else f"{label} {ref}"
    if is_shallow(root):
        return (f"{what}: that commit is not in this shallow clone of {root}; fetch it with "
                f"`git fetch --deepen={depth} origin` or `git fetch --unshallow`, or set "
                "`fetch-depth: 0` in actions/checkout")
    return (f"{what}: that commit or its tree is not in the clone at {root} (a partial or "
            "incomplete fetch); fetch it with `git fetch origin`, or `fetch-depth: 0` in "
            "actions/checkout")


def unusable_ref(root: Path, ref: str) -> str:
    """One line for a ref that names no commit here: unknown, a blob or tree, or a repository
    with no commit yet."""
    if not succeeds(root, "rev-parse", "--verify", "--quiet", "HEAD"):
        return (f"--since {ref}: not a commit: the repository at {root} has no commit yet; "
                "commit once, or leave out --since to plan from the manifest")
    kind = proc.run(["git", "cat-file", "-t", ref], cwd=root, env=proc.git_env(),
                    check=False).stdout.decode().strip()
    if kind in ("blob", "tree"):
        return (f"--since {ref}: not a commit: it names a {kind}; pass a branch, tag or "
                "commit sha")
    shallow = (" (a shallow clone: `git fetch --deepen=50 origin` or `git fetch --unshallow`, "
               "or `fetch-depth: 0` in actions/checkout)") if is_shallow(root) else ""
    return (f"--since {ref}: not a commit in {root}: no such branch, tag or sha; pass one that "
            f"exists (`git fetch origin` brings remote branches){shallow}")


def succeeds(root: Path, *args: str) -> bool:
    return proc.run(["git", *args], cwd=root, env=proc.git_env(), check=False).returncode == 0


def start(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """`git ARGS` started in the background (read its stdout later), same clean environment."""
    return subprocess.Popen(["git", *args], cwd=root, env=proc.git_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _repo(root: Path) -> Any:
    """A GitPython Repo whose git processes get the same clean environment as `run`."""
    import git  # GitPython: ref resolution and a persistent cat-file for blob reads

    repo = git.Repo(root)
    env = proc.git_env()
    repo.git.update_environment(**env, **{k: None for k in os.environ if k not in env})
    return repo


def _hidden(path: str) -> bool:
    top = path.split("/", 1)[0]
    return top in NEVER_SENT


# Folders listed alone before the whole listing is parsed instead (each is a scan of it)
MAX_PARTS = 16
_INDEX_META = re.compile(rb"[0-7]{6} [0-9a-f]{40,64} [0-3]")
# a submodule's record in `git ls-files -s -z`: mode 160000, the commit, the stage, the path
_GITLINK = re.compile(rb"(?:^|\0)160000 [0-9a-f]{40,64} [0-3]\t([^\0]*)")


def _parse_index(raw: bytes) -> dict[str, str]:
    """`git ls-files -s -z` records as path -> `mode:blob` ('' while unmerged)."""
    index: dict[str, str] = {}
    for rec in raw.decode("utf-8", "surrogateescape").split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        mode, blob, stage = meta.split(" ")
        if mode == "160000" or (path[0] == "." and _hidden(path)):
            continue  # submodule: Docker sends its files but git does not list them
        index[path] = f"{mode}:{blob}" if stage == "0" else ""
    return index


def _tree_lookup(root: Path, paths: Sequence[str]) -> list[str]:
    """`<type> <oid> <mode>` of each path in HEAD, walking trees read by id through one
    `git cat-file --batch` (request, answer, in turn: never a full pipe)."""
    p = subprocess.Popen(["git", "cat-file", "--batch"], cwd=root, env=proc.git_env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    stdin, stdout = p.stdin, p.stdout
    assert stdin is not None and stdout is not None

    def read(spec: str) -> tuple[str, str, bytes] | None:
        stdin.write(spec.encode() + b"\n")
        stdin.flush()
        head = stdout.readline().split()
        if len(head) != 3:   # "<spec> missing"
            return None
        data = stdout.read(int(head[2]) + 1)[:-1]
        return head[0].decode(), head[1].decode(), data

    def entries(data: bytes, width: int) -> dict[str, str]:
        found: dict[str, str] = {}
        i = 0
        while i < len(data):
            sp = data.index(b" ", i)
            nul = data.index(b"\0", sp)
            mode = data[i:sp].decode()
            kind = "tree" if mode == "40000" else "commit" if mode == "160000" else "blob"
            name = data[sp + 1:nul].decode("utf-8", "surrogateescape")
            found[name] = f"{kind} {data[nul + 1:nul + 1 + width].hex()} {mode}"
            i = nul + 1 + width
        return found

    try:
        top = read("HEAD^{tree}")
        if top is None:
            return ["missing"] * len(paths)
        width = len(top[0]) // 2   # sha1: 20 bytes, sha256: 32
        trees: dict[str, dict[str, str]] = {"": entries(top[2], width)}
        out: list[str] = []
        for path in paths:
            ident: str | None = f"tree {top[0]} 40000"
            folder = ""
            for name in path.split("/") if path else ():
                if ident is None or not ident.startswith("tree "):
                    ident = None
                    break
                if folder not in trees:
                    got = read(ident.split(" ")[1])
                    trees[folder] = entries(got[2], width) if got and got[1] == "tree" else {}
                ident = trees[folder].get(name)
                folder = f"{folder}/{name}" if folder else name
            out.append(ident or "missing")
        return out
    finally:
        stdin.close()
        p.kill()
        p.wait()


class Tree(Protocol):
    root: Path
    label: str

    def paths(self) -> Sequence[str]:
        """Every file, sorted, posix, relative to the root."""

    def under(self, prefix: str) -> Sequence[str]:
        """The sorted files below directory `prefix` ('.' for all)."""

    def file_id(self, path: str) -> str: ...

    def file_ids(self, paths: Iterable[str]) -> dict[str, str]: ...

    def read_bytes(self, path: str) -> bytes | None: ...

    def is_file(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...


def _slice(paths: Sequence[str], prefix: str) -> Sequence[str]:
    if prefix in (".", ""):
        return paths
    lo = bisect.bisect_left(paths, prefix + "/")
    hi = bisect.bisect_left(paths, prefix + "0")  # '0' sorts right after '/'
    return paths[lo:hi]


def _has_dir(paths: Sequence[str], prefix: str) -> bool:
    return prefix in (".", "") or len(_slice(paths, prefix)) > 0


def is_under(path: str, folder: str) -> bool:
    """`path` is `folder` or below it ('' holds everything)."""
    return not folder or path == folder or path.startswith(folder + "/")


def disk_file_id(root: Path, path: str) -> str:
    """A file's identity read from disk, as git would hash it, with the permissions a checkout
    would not give."""
    full = root / path
    try:
        st = full.lstat()
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(full)
            ident = f"{SYMLINK}:{blob_id(os.fsencode(target))}"
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            # Never read through a link leading out of the repository (escapes() says
            # where it leads; the planner refuses such an input).
            if not resolved.startswith("../") and resolved != path and \
                    escapes(root, path) is None and full.is_file():
                # COPY reads through a symlink: the target's content is what lands.
                ident += "->" + blob_id(full.read_bytes())
        else:
            mode = EXECUTABLE if st.st_mode & 0o111 else REGULAR
            ident = f"{mode}:{blob_id(full.read_bytes())}"
            perm = st.st_mode & 0o7777
            if perm not in _CHECKOUT_PERMS:
                ident += f":perm{perm:o}"
    except OSError as exc:
        ident = f"unreadable:{exc.errno}"
    return ident


@dataclass
class WorkTree:
    """The working tree as Docker would send it: tracked, untracked and ignored files from disk."""

    root: Path
    label: str = "working tree"
    _index: dict[str, str] = field(default_factory=dict)   # path -> id known without reading
    _paths: list[str] = field(default_factory=list)
    _ids: dict[str, str] = field(default_factory=dict)

    _status: subprocess.Popen[bytes] | None = None
    _odd: subprocess.Popen[bytes] | None = None
    _listing: subprocess.Popen[bytes] | None = None
    _changes: list[tuple[str, str]] | None = None
    _listed: bool = False
    _perms: dict[str, int] | None = None
    _memo: Path | None = None
    _submodules: list[str] | None = None
    _files: set[str] = field(default_factory=set)
    _listed_raw: bytes | None = None
    # folder -> its files and their index ids, listed alone (`_part`)
    _parts: dict[str, tuple[list[str], dict[str, str]] | None] = field(default_factory=dict)
    _part_files: set[str] = field(default_factory=set)
    _part_index: dict[str, str] = field(default_factory=dict)
    # Folders never part of the tree besides NEVER_SENT at the top: buildorch's state beside a
    # services.toml that is not at the root (`--config sub/services.toml` -> sub/.buildorch).
    hidden: tuple[str, ...] = ()

    @classmethod
    def scan(cls, root: Path, hidden: Sequence[str] = (),
             perms_memo: Path | None = None) -> WorkTree:
        """Starts `git status` (the slow part, ~0.1 s on 50,000 files) in the background; the
        listing completes when first needed, so callers can read Dockerfiles meanwhile.
        `perms_memo`: a file keeping the permission scan for the next scan (`_odd_perms`)."""
        tree = cls(root=root, hidden=tuple(h for h in hidden if h not in NEVER_SENT),
                   _memo=perms_memo)
        if (root / ".git").exists():
            tree._start_git()
        else:
            tree._paths = sorted(tree._walk("."))
        return tree

    def _start_git(self) -> None:
        # The index listing is parsed only when a file list is needed: a plan whose inputs are
        # all reused never needs it.
        self._status = prestart.take(self.root) or prestart.status(self.root)
        if self._memo is None:   # no memo to spare it: the scan runs beside git status
            self._odd = prestart.odd_permissions(self.root)
        self._listing = start(self.root, "ls-files", "-s", "-z")

    def _kill(self) -> None:
        for p in (self._status, self._odd, self._listing):
            if p is not None and p.returncode is None:
                p.kill()
                p.wait()
        self._status = self._odd = self._listing = None

    def _listing_bytes(self) -> bytes:
        """`git ls-files -s -z` as git wrote it (read once)."""
        if self._listed_raw is None:
            p, self._listing = self._listing, None
            if p is None:
                self._listed_raw = b""
                return self._listed_raw
            out, err = p.communicate()
            if p.returncode != 0:
                self._kill()
                raise BuildorchError(refusal(self.root, err) or str(proc.CalledProcessError(
                    ["git", "ls-files", "-s", "-z"], p.returncode, out, err)))
            self._listed_raw = out
        return self._listed_raw

    def _read_index(self) -> None:
        if self._listing is None and self._listed_raw is None:
            return
        self._index = _parse_index(self._listing_bytes())
        self._files = set(self._index)

    def _part(self, folder: str) -> tuple[list[str], dict[str, str]] | None:
        """The sorted files below `folder` and their index ids, as `_finish` would list
        them, without parsing the whole index: git lists paths sorted, so a folder's entries
        are one run of the listing. None when only the whole listing can say (a listed
        folder above it, hidden folders)."""
        if folder in self._parts:
            return self._parts[folder]
        if len(self._parts) >= MAX_PARTS:
            return None   # many images read again: parse the whole listing once instead
        changes = self.changes()
        names = [c for _, c in changes]
        parts = folder.split("/")
        for i in range(1, len(parts) + 1):
            above = "/".join(parts[:i])
            for name in (above, above + "/"):
                j = bisect.bisect_left(names, name)
                if j < len(names) and names[j] == name:
                    return None   # a listed folder (or file, or link) at or above it
        if self.hidden or os.path.islink(self.root / folder) or any(
                is_under(sub, folder) or is_under(folder, sub) for sub in self.submodules()):
            return None
        raw = self._listing_bytes()
        key = b"\t" + os.fsencode(folder) + b"/"
        at = 0
        while True:
            at = raw.find(key, at)
            if at < 0:
                start = end = 0
                break
            start = raw.rfind(b"\0", 0, at) + 1
            if _INDEX_META.fullmatch(raw, start, at):
                end = start
                # the run ends at the first record outside the folder
                while end < len(raw):
                    tab = raw.find(b"\t", end)
                    if tab < 0 or not raw.startswith(key[1:], tab + 1):
                        break
                    nul = raw.find(b"\0", tab)
                    end = len(raw) if nul < 0 else nul + 1
                break
            at += 1
        index = _parse_index(raw[start:end])
        files = set(index)
        lo, hi = bisect.bisect_left(names, folder + "/"), bisect.bisect_left(names, folder + "0")
        for xy, path in changes[lo:hi]:
            if xy in ("??", "!!"):
                files.update(self._walk(path.rstrip("/")) if path.endswith("/") else (path,))
            elif xy[1] == "D":
                files.discard(path)
                index.pop(path, None)
            elif xy[1] != " " or "U" in xy:
                index[path] = ""
        got = (sorted(files), {p: i for p, i in index.items() if i})
        self._parts[folder] = got
        self._part_files.update(got[0])
        self._part_index.update(got[1])
        return got

    def changes(self) -> list[tuple[str, str]]:
        """`git status` as sorted (XY, path) pairs: every path whose content may differ from
        HEAD (staged, modified, deleted, untracked, ignored; a folder ends with '/').
        Without git: empty (`head_ids` then knows nothing either)."""
        if self._changes is None:
            p, self._status = self._status, None
            if p is None:
                self._changes = []
                return self._changes
            out, err = p.communicate()
            if p.returncode != 0:
                self._kill()
                raise BuildorchError(refusal(self.root, err) or str(
                    proc.CalledProcessError(["git", "status"], p.returncode, out, err)))
            found: list[tuple[str, str]] = []
            for rec in out.decode("utf-8", "surrogateescape").split("\0"):
                if len(rec) < 4:
                    continue
                xy, path = rec[:2], rec[3:]
                if path[0] == "." and _hidden(path):
                    continue
                found.append((xy, path))
            found.sort(key=lambda c: c[1])
            self._changes = found
        return self._changes

    def head_ids(self, paths: Sequence[str]) -> list[str]:
        """`<type> <oid> <mode>` of each path in HEAD ('' is the root tree), 'missing' where
        HEAD has none, 'no-git' without a repository."""
        return self.start_head_ids(paths)()

    def start_head_ids(self, paths: Sequence[str]) -> Callable[[], list[str]]:
        """`head_ids` started in the background (a thread talking to one `git cat-file
        --batch`); call the result for the answer. Each tree on the way is read once, by id:
        asking `HEAD:a/b` path by path would unpack `a` again for every `a/*`."""
        n = len(paths)
        if not (self.root / ".git").exists():
            return lambda: ["no-git"] * n
        result: list[list[str]] = []

        def work() -> None:
            try:
                result.append(_tree_lookup(self.root, paths))
            except (OSError, ValueError, IndexError):
                result.append(["unknown"] * n)   # never equal to a stored id: nothing reused

        thread = threading.Thread(target=work, daemon=True)
        thread.start()

        def collect() -> list[str]:
            thread.join()
            return result[0] if result else ["unknown"] * n
        return collect

    def submodules(self) -> list[str]:
        """The submodules' folders (sorted). Git lists none of their files, Docker sends them
        all: the tree walks them and hashes them from disk, and the input cache keys them by
        disk stamps. Read from the index only when `.gitmodules` exists (a gitlink without
        one, a repository `git add`ed by mistake, is not followed)."""
        if self._submodules is None:
            self._submodules = []
            if (self.root / ".gitmodules").exists() and \
                    (self._listing is not None or self._listed_raw is not None):
                raw = self._listing_bytes()
                self._submodules = sorted(
                    p for m in _GITLINK.finditer(raw)
                    if not _hidden(p := os.fsdecode(m.group(1))) and not self._is_hidden(p))
        return self._submodules

    def _finish(self) -> None:
        if self._listed or (self._status is None and self._changes is None):
            return
        self._listed = True
        self._read_index()
        changes = self.changes()
        files, index = self._files, self._index
        ignored_dirs: list[str] = []
        for xy, path in changes:
            if xy in ("??", "!!"):
                if path.endswith("/"):
                    if xy == "!!":
                        ignored_dirs.append(path.rstrip("/"))
                    else:  # an untracked nested repository: -uall does not enter it
                        files.update(self._walk(path.rstrip("/")))
                else:
                    files.add(path)
            elif xy[1] == "D":
                files.discard(path)
                index.pop(path, None)
            elif xy[1] != " " or "U" in xy:
                index[path] = ""  # changed on disk: hash it when asked
        for d in ignored_dirs:
            files.update(self._walk(d))
        for sub in self.submodules():   # Docker sends a submodule's files, read from disk
            if not os.path.islink(self.root / sub):
                files.update(self._walk(sub))
        if self.hidden:
            files = {p for p in files if not self._is_hidden(p)}
        self._index = {p: i for p, i in index.items() if i and not self._is_hidden(p)}
        self._paths = sorted(files)
        self._files = set()

    def _is_hidden(self, path: str) -> bool:
        return any(path == h or path.startswith(h + "/") for h in self.hidden)

    def _walk(self, rel: str) -> Iterator[str]:
        base = self.root if rel == "." else self.root / rel
        prefix = "" if rel == "." else rel + "/"
        for dirpath, dirnames, filenames in os.walk(base):
            d = os.path.relpath(dirpath, base).replace(os.sep, "/")
            d = "" if d == "." else d + "/"
            if not d and not prefix:
                dirnames[:] = [n for n in dirnames if n not in NEVER_SENT]
            if self.hidden:
                dirnames[:] = [n for n in dirnames if not self._is_hidden(f"{prefix}{d}{n}")]
            for n in filenames:
                yield f"{prefix}{d}{n}"
            # os.walk does not descend into symlinked dirs; Docker sends the link itself.
            for n in dirnames:
                if os.path.islink(os.path.join(dirpath, n)):
                    yield f"{prefix}{d}{n}"

    def paths(self) -> Sequence[str]:
        self._finish()
        return self._paths

    def under(self, prefix: str) -> Sequence[str]:
        if not self._listed and prefix not in (".", "") and \
                (self._status is not None or self._changes is not None):
            part = self._part(prefix)
            if part is not None:   # a plan reading a few contexts again lists only those
                return part[0]
        self._finish()
        return _slice(self._paths, prefix)

    def _index_for(self, paths: Sequence[str]) -> dict[str, str]:
        """Index ids covering `paths`: the folders listed alone when they hold them all."""
        if not self._listed and self._parts and \
                all(p in self._part_files for p in paths):
            return self._part_index
        self._finish()
        return self._index

    def file_ids(self, paths: Iterable[str]) -> dict[str, str]:
        """Identities of many files. The content is the index's where git knows it; the
        permissions are always the disk's: git records only 644/755, but BuildKit's cache key
        sees every bit (a chmod 664 or 600 rebuilds: tests/planning/test_planner_vs_buildkit.py).
        A tight loop: on a no-change plan this is one lstat per file read."""
        paths = list(paths)
        index = self._index_for(paths)
        odd = self._odd_perms()
        out: dict[str, str] = {}
        ids = self._ids
        for path in paths:
            ident = ids.get(path)
            if ident is None:
                indexed = index.get(path)
                if indexed:
                    perm = odd.get(path)
                    ident = indexed if perm is None else f"{indexed}:perm{perm:o}"
                    ids[path] = ident
                else:
                    ident = self.file_id(path)
            out[path] = ident
        return out

    def odd_perms(self) -> dict[str, int]:
        return self._odd_perms()

    def disk_stamp(self, path: str) -> str:
        """What changes whenever the file's content, type or mode does (ctime moves with every
        write and chmod): a cheap stand-in for hashing it, for cache keys only."""
        try:
            st = os.lstat(self.root / path)
        except OSError as exc:
            return f"unreadable:{exc.errno}"
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS:
            # Timestamps tick coarsely: a second write this soon could leave them as they
            # are. Such a file matches nothing, now or later (git's "racy clean" rule).
            return f"racy:{os.urandom(8).hex()}"
        return f"{st.st_mode:o}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"

    def walk(self, rel: str) -> Iterator[str]:
        """Every file below folder `rel` on disk (symlinked folders as themselves)."""
        return self._walk(rel)

    def _odd_perms(self) -> dict[str, int]:
        """Tracked files git status does not list whose permissions a checkout would not give
        (a listed file is read from disk, its mode with it). From `find`, or without GNU
        find one lstat per tracked file; with a memo, the last scan while git's index is the
        one it was made beside (`permscan.index_stamp`)."""
        if self._perms is None:
            stamp = None
            if self._memo is not None and self._odd is None and \
                    (self._status is not None or self._changes is not None):
                self.changes()   # git status first: it rewrites the index the stamp reads
                stamp = permscan.index_stamp(self.root)
                kept = permscan.read_memo(self._memo, stamp)
                if kept is not None:
                    self._perms = self._unlisted(kept)
                    return self._perms
                # started only now, after git status: a mode moved after this is either seen
                # by the scan or makes the next status rewrite the index (once `permscan.settled`)
                if stamp is not None and not permscan.settled(stamp, time.time_ns()):
                    stamp = None   # the index was written this second: not kept
                self._odd = prestart.odd_permissions(self.root)
            p, self._odd = self._odd, None
            out = p.communicate()[0] if p is not None else b""
            if p is not None and p.returncode == 0:
                parts = out.decode("utf-8", "surrogateescape").split("\0")
                self._perms = self._unlisted({parts[i]: int(parts[i + 1], 8)
                                              for i in range(0, len(parts) - 1, 2)})
                if stamp is not None and self._memo is not None:
                    permscan.write_memo(self._memo, stamp, self._perms)
            else:
                self._finish()   # the tracked files, to lstat one by one
                self._perms = {}
                root = f"{self.root}/"
                for path in self._index:
                    try:
                        perm = os.lstat(root + path).st_mode & 0o7777
                    except OSError:
                        continue
                    if perm not in _CHECKOUT_PERMS:
                        self._perms[path] = perm
        return self._perms

    def _unlisted(self, perms: dict[str, int]) -> dict[str, int]:
        """`perms` without the paths git status lists (untracked, ignored, modified: at or
        below a listed path) and a submodule's files: each is read from disk, mode and all."""
        listed = self.changes()
        subs = self.submodules()
        if not (listed or subs) or not perms:
            return perms
        files = {c for _, c in listed if not c.endswith("/")}
        folders = {c.rstrip("/") for _, c in listed if c.endswith("/")} | set(subs)

        def shown(path: str) -> bool:
            if path in files:
                return True
            if folders:
                at = path.find("/")
                while at >= 0:
                    if path[:at] in folders:
                        return True
                    at = path.find("/", at + 1)
            return False
        return {p: m for p, m in perms.items() if not shown(p)}

    def file_id(self, path: str) -> str:
        known = self._ids.get(path)
        if known:
            return known
        if path in self._index_for([path]):
            return self.file_ids((path,))[path]
        ident = disk_file_id(self.root, path)
        self._ids[path] = ident
        return ident

    def escapes(self, path: str) -> str | None:
        """Where `path` leads when a symlink takes it outside the repository, else None."""
        return escapes(self.root, path)

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except OSError:
            return None

    def is_file(self, path: str) -> bool:
        return (self.root / path).is_file()

    def is_dir(self, path: str) -> bool:
        return (self.root / path).is_dir()


@dataclass
class CommitTree:
    """The tree of a git commit, read through one persistent `git cat-file --batch`."""

    root: Path
    label: str
    sha: str
    _entries: dict[str, str] = field(default_factory=dict)
    _paths: list[str] = field(default_factory=list)
    _repo: object = None
    # a submodule's file -> that submodule (None: its `.git`, read from disk)
    _sub_blobs: dict[str, Path | None] = field(default_factory=dict)

    @classmethod
    def at(cls, root: Path, ref: str) -> CommitTree:
        import git  # GitPython: its exception types

        try:
            repo = _repo(root)
            sha = repo.commit(ref).hexsha
        except git.InvalidGitRepositoryError:
            raise BuildorchError(f"--since {ref}: {root}/.git is not a repository git can "
                                 "read: repair it, or remove it (and --since)") from None
        except (git.BadName, ValueError, git.NoSuchPathError):
            raise BuildorchError(unusable_ref(root, ref)) from None
        tree = cls(root=root, label=f"{ref} ({sha[:10]})", sha=sha, _repo=repo)
        try:
            out = run(root, "ls-tree", "-r", "-z", "--full-tree", sha)
        except proc.CalledProcessError:
            # GitPython read the sha from a child's parent line; the object itself is not here.
            raise BuildorchError(missing_commit(root, ref, sha)) from None
        for rec in out.split(b"\0"):
            if not rec:
                continue
            meta, _, raw = rec.partition(b"\t")
            mode, kind, blob = meta.decode().split(" ")
            path = raw.decode("utf-8", "surrogateescape")
            if _hidden(path):
                continue
            if kind == "commit":
                tree._submodule(path, blob)
            elif kind == "blob":
                tree._entries[path] = f"{mode}:{blob}"
        tree._paths = sorted(tree._entries)
        return tree

    def _submodule(self, path: str, commit: str) -> None:
        """A submodule's files at `commit`, read from its own repository, as the working tree
        walks them. Not checked out here: none (the working tree has none either). Checked
        out without that commit: one entry that matches nothing, so what reads it counts as
        changed."""
        sub = self.root / path
        if not (sub / ".git").exists():
            return
        # the checkout's own `.git` file (or folder) is sent by Docker and is not in any
        # commit: as it is on disk now
        dot = f"{path}/.git"
        for name in ([dot] if not (sub / ".git").is_dir() else
                     sorted(f"{dot}/{os.path.relpath(os.path.join(d, n), sub / '.git')}"
                            for d, _, names in os.walk(sub / ".git") for n in names)):
            self._entries[name] = disk_file_id(self.root, name)
            self._sub_blobs[name] = None
        try:
            out = run(sub, "ls-tree", "-r", "-z", "--full-tree", commit)
        except BuildorchError:
            self._entries[dot] = f"unreadable:submodule commit {commit} not in {sub}"
            return
        for rec in out.split(b"\0"):
            meta, _, raw = rec.partition(b"\t")
            parts = meta.decode().split(" ")
            if len(parts) == 3 and parts[1] == "blob":
                name = f"{path}/{raw.decode('utf-8', 'surrogateescape')}"
                self._entries[name] = f"{parts[0]}:{parts[2]}"
                self._sub_blobs[name] = sub

    def paths(self) -> Sequence[str]:
        return self._paths

    def under(self, prefix: str) -> Sequence[str]:
        return _slice(self._paths, prefix)

    def file_ids(self, paths: Iterable[str]) -> dict[str, str]:
        return {p: self.file_id(p) for p in paths}

    def file_id(self, path: str) -> str:
        ident = self._entries.get(path, "missing")
        if ident.startswith(SYMLINK + ":"):
            target = (self.read_bytes(path) or b"").decode("utf-8", "surrogateescape")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            inner = self._entries.get(resolved)
            if inner and not inner.startswith(SYMLINK):
                ident += "->" + inner.split(":", 1)[1]
        return ident

    def read_bytes(self, path: str) -> bytes | None:
        ident = self._entries.get(path)
        if ident is None:
            return None
        blob = ident.split(":", 1)[1]
        if path in self._sub_blobs:
            sub = self._sub_blobs[path]
            if sub is not None:
                return run(sub, "cat-file", "blob", blob)
            try:
                return (self.root / path).read_bytes()
            except OSError:
                return None
        repo = self._repo
        assert repo is not None
        data: bytes = repo.odb.stream(bytes.fromhex(blob)).read()  # type: ignore[attr-defined]
        return data

    def is_file(self, path: str) -> bool:
        return path in self._entries

    def is_dir(self, path: str) -> bool:
        return _has_dir(self._paths, path)
