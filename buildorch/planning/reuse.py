"""Reusing an image's inputs from the last plan when nothing it reads can have changed.

Two keys per image, both sha256:
  - `spec`: the image's services.toml entry, the project platform, the hidden folders, and
    (through the code stamp the whole cache carries) buildorch's own planning code.
  - `state`: for each root (a repository path: the image's Dockerfile, both .dockerignore
    files BuildKit may take, each literal COPY/ADD/bind source or the literal folders above a
    wildcard, the context when a source is unresolved, the repository for `inputs`): its id
    and mode in HEAD (a file's mode is not in its blob id), every path `git status` lists at,
    below or above it (modified, staged, deleted, untracked, ignored: with an lstat stamp,
    ctime included; files written in the last 2 s never match), every file of a submodule at,
    below or above it (git lists none: each with its lstat stamp) and the files below it
    whose permissions a checkout would not give.
The roots are stored with the entry: the same spec and the same Dockerfile mean the same
analysis, so the same roots. A fresh result is stored only when every file it read lies
under its roots and neither its Dockerfile nor a .dockerignore is a symlink.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from buildorch.config import Config, Image, context_kind
from buildorch.dockerlang.dockerignore import ignore_file_for
from buildorch.dockerlang.golang import has_wildcards
from buildorch.edges.git import is_under
from buildorch.edges.inputcache import LazyFiles, LazyMapping, Store, manifest_line, manifest_stamp
from buildorch.edges.state import MANIFEST, Manifest, Record, load_manifest, str_mapping
from buildorch.planning.inputs import Analyses, ImageInputs, Reader, resolved_analyses

if TYPE_CHECKING:
    from buildorch.dockerlang.analysis import Analysis
    from buildorch.planning.links import Resolver

KEY_VERSION = 3   # 3: configured ancestors (chain), named contexts, origins
# the package's __init__.py holds the version
_CODE = ("__init__.py", "config.py", "config_keys.py", "planning", "dockerlang", "edges/git.py",
         "edges/inputcache.py", "edges/state.py")


class GitTree(Protocol):
    """The parts of `edges.git.WorkTree` the keys read."""

    root: Path
    hidden: tuple[str, ...]

    def changes(self) -> list[tuple[str, str]]: ...
    def head_ids(self, paths: Sequence[str]) -> list[str]: ...
    def start_head_ids(self, paths: Sequence[str]) -> Callable[[], list[str]]: ...
    def odd_perms(self) -> dict[str, int]: ...
    def submodules(self) -> list[str]: ...
    def disk_stamp(self, path: str) -> str: ...
    def walk(self, rel: str) -> Iterable[str]: ...
    def read_bytes(self, path: str) -> bytes | None: ...
    def is_file(self, path: str) -> bool: ...
    def escapes(self, path: str) -> str | None: ...


def code_stamp() -> str:
    """Changes whenever buildorch's planning code does (an upgrade, or an edit in a checkout):
    a cache written by other code is never trusted."""
    base = Path(__file__).resolve().parent.parent
    parts = [str(KEY_VERSION)]
    for rel in _CODE:
        p = base / rel
        names = sorted(os.listdir(p)) if p.is_dir() else [""]
        for n in names:
            if n and not n.endswith(".py"):
                continue
            with_name = p / n if n else p
            try:
                st = os.stat(with_name)
            except OSError:
                continue
            parts.append(f"{rel}/{n}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def roots_of(image: Image, analysis: Analysis) -> list[str]:
    """Repository folders ('' = all of it) below which lies every file the image can read:
    in its context (its own sources and its configured parents' ONBUILD triggers) and in
    its named folder contexts."""
    if image.inputs:
        return [""]
    ctx = _root(image.context)
    folders = dict(image.contexts)
    found: set[str] = set()
    if analysis.unresolved:
        found.add(ctx)
    for src in analysis.context_sources:
        if src.context:
            base = _root(folders.get(src.context, ""))
        elif analysis.unresolved:
            continue   # the whole context counts
        else:
            base = ctx
        segments = src.pattern.rstrip("/").split("/")
        wild = next((i for i, s in enumerate(segments) if has_wildcards(s)), None)
        # a literal source is a file or a folder (all below it); a wildcard source stays
        # below its literal folders
        above = segments[:wild] if wild is not None else segments
        if src.pattern.startswith("/") or any(s in ("", "..") for s in above):
            found.add(base)
        else:
            found.add(_root("/".join(p for p in (base, *above) if p and p != ".")))
    return sorted(found)


def _root(path: str) -> str:
    """`path` as the repository-relative form git prints ('' for all of it, when it leads
    elsewhere)."""
    p = posixpath.normpath(path) if path else "."
    return "" if p == "." or p == ".." or p.startswith(("../", "/")) else p


def own_files(image: Image) -> list[str]:
    """The files an image's build reads besides its contexts: its Dockerfile, either
    .dockerignore BuildKit may take (whether each exists decides which applies), and the
    .dockerignore at the root of each named folder context."""
    asked: list[str] = []

    def exists(path: str) -> bool:
        asked.append(path)
        return False

    ignore_file_for(image.dockerfile, image.context, exists)
    for _, value in image.contexts:
        kind, rest = context_kind(value)
        if kind == "path":
            asked.append(posixpath.join(rest, ".dockerignore"))
    return [_root(p) for p in (image.dockerfile, *asked)]


@dataclass
class Reuse:
    """Reads an image's inputs through the cache: reused when both keys match, else read
    by `Reader` and stored for next time."""

    config: Config
    tree: GitTree
    store: Store
    stamp: str
    hits: int = 0
    _heads: dict[str, str] = field(default_factory=dict)
    _perms: list[tuple[str, int]] | None = None
    _walked: dict[str, list[str]] = field(default_factory=dict)
    _ran: set[str] = field(default_factory=set)
    _paths: list[str] | None = None
    _escapes: dict[str, str | None] = field(default_factory=dict)
    _specs: dict[str, str] = field(default_factory=dict)
    _dfkeys: dict[str, str | None] = field(default_factory=dict)
    _chains: dict[str, str | None] = field(default_factory=dict)
    _states: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = field(default_factory=dict)

    _early: Callable[[], list[str]] | None = None
    _early_paths: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, config: Config, tree: GitTree) -> Reuse:
        """Loads the cache and starts looking up its roots (and their folders) in HEAD."""
        stamp = code_stamp()
        reuse = cls(config, tree, Store.load(config.state_dir, stamp), stamp)
        stored = {r for e in reuse.store.entries.values() for k in ("roots", "own")
                  if isinstance(rs := e.get(k), list) for r in rs if isinstance(r, str)}
        if stored:
            reuse._early_paths = sorted(stored)
            reuse._early = tree.start_head_ids(reuse._early_paths)
        return reuse

    # --- keys ---------------------------------------------------------------------------

    def spec(self, image: Image) -> str:
        """Everything but files: the Dockerfile and the .dockerignore files are roots. A
        `target:` context counts as the reference the analysis takes for it."""
        if image.name not in self._specs:
            refs = [self.config.ref(rest) for kind, rest in
                    (context_kind(v) for _, v in image.contexts) if kind == "target"]
            self._specs[image.name] = hashlib.sha256(json.dumps(
                [KEY_VERSION, repr(image), self.config.platform, list(self.tree.hidden), refs],
                separators=(",", ":")).encode()).hexdigest()
        return self._specs[image.name]

    def dockerfile_key(self, image: Image) -> str | None:
        """What the image's analysis on its own depends on: its entry and its Dockerfile's
        state (None when the Dockerfile is a link, whose target is not keyed)."""
        if image.name not in self._dfkeys:
            df = own_files(image)[0]
            self._dfkeys[image.name] = None if df and os.path.islink(self.tree.root / df) \
                else hashlib.sha256(f"{self.spec(image)}\0{self.state([], [df])}".encode()
                                    ).hexdigest()
        return self._dfkeys[image.name]

    def chain(self, name: str, external: Mapping[str, Sequence[str]],
              resolver: Resolver) -> str | None:
        """What an image's configured ancestors carry into its reads (their ENV, their
        ONBUILD triggers: `resolved_analyses`): for each FROM reference the configured image
        it names now (links.py: other images' tags decide it), that image's Dockerfile key,
        and its own chain. None: not keyable (a Dockerfile behind a link)."""
        if name in self._chains:
            return self._chains[name]
        self._chains[name] = None   # a cycle (refused by the graph) is never reused
        parts: list[object] = []
        for ref in external.get(name, ()):
            link = resolver.resolve(ref, name)
            parent = link.parent if link else None
            if parent is None or parent not in self.config.images:
                continue
            key = self.dockerfile_key(self.config.images[parent])
            up = self.chain(parent, external, resolver)
            if key is None or up is None:
                return None
            parts.append([ref, parent, key, up])
        out = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()
        self._chains[name] = out
        return out

    def _escape(self, path: str) -> str | None:
        if path not in self._escapes:
            self._escapes[path] = self.tree.escapes(path)
        return self._escapes[path]

    def prefetch(self, roots: Sequence[str]) -> None:
        """HEAD's ids of `roots`, each with its mode (a file's mode is not in its blob)."""
        if self._early is not None:   # every stored root in one `git cat-file`
            self._heads.update(zip(self._early_paths, self._early(), strict=True))
            self._early = None
        want = sorted({r for r in roots if r not in self._heads})
        if want:
            self._heads.update(zip(want, self.tree.head_ids(want), strict=True))

    def state(self, roots: Sequence[str], own: Sequence[str] = ()) -> str:
        """The state of `roots` (read as a context: modes count) and `own` (read for their
        bytes: a Dockerfile, a .dockerignore). Each set is hashed once a run."""
        memo = (tuple(roots), tuple(own))
        if memo not in self._states:
            self._states[memo] = self._state(roots, own)
        return self._states[memo]

    def _state(self, roots: Sequence[str], own: Sequence[str]) -> str:
        self.prefetch([*roots, *own])
        changes = self.tree.changes()
        if self._paths is None:
            self._paths = [p for _, p in changes]
        paths = self._paths
        if self._perms is None:
            self._perms = sorted(self.tree.odd_perms().items())
        perm_paths = [p for p, _ in self._perms]
        h = hashlib.sha256()
        for root in [*roots, "\0own", *own]:
            h.update(f"\0root\0{root}\0{self._heads.get(root)}".encode(
                "utf-8", "surrogateescape"))
            lo, hi = _range(paths, root)
            listed = [c for c in changes[lo:hi] if is_under(c[1].rstrip("/"), root)]
            # a listed folder above the root ("!! build/" for the root build/out), or a file
            # there (a symlink `lib` for the root lib/x)
            parts = root.split("/") if root else []
            for i in range(1, len(parts)):
                above = "/".join(parts[:i])
                for name in (above, above + "/"):
                    j = bisect.bisect_left(paths, name)
                    if j < len(paths) and paths[j] == name:
                        listed.append(changes[j])
            # a submodule's files, at, below or above the root: git lists none of them, so
            # each is taken as a listed folder is
            listed += [("sub", f"{sub}/") for sub in self.tree.submodules()
                       if is_under(sub, root) or is_under(root, sub)]
            for xy, path in listed:
                if path.endswith("/"):
                    for f in self._walk(path.rstrip("/")):
                        if is_under(f, root):
                            h.update(f"\0{xy}\0{f}\0{self.tree.disk_stamp(f)}".encode(
                                "utf-8", "surrogateescape"))
                else:
                    h.update(f"\0{xy}\0{path}\0{self.tree.disk_stamp(path)}".encode(
                        "utf-8", "surrogateescape"))
            lo, hi = _range(perm_paths, root)
            perms = [x for x in self._perms[lo:hi] if is_under(x[0], root)]
            h.update(repr(perms).encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    def _walk(self, folder: str) -> list[str]:
        if folder not in self._walked:
            self._walked[folder] = sorted(self.tree.walk(folder))
        return self._walked[folder]

    # --- reading ------------------------------------------------------------------------

    def first(self, reader: Reader) -> tuple[Mapping[str, Analysis | None],
                                             dict[str, tuple[str, ...]]]:
        """Each image's analysis on its own (parsed on first use) and the images its FROM
        lines name, taken from the cache while its Dockerfile key is the stored one."""
        first = Analyses(reader)
        external: dict[str, tuple[str, ...]] = {}
        for name, image in self.config.images.items():
            e = self.store.entries.get(name)
            if e is not None and e.get("spec") == self.spec(image) and \
                    isinstance(e.get("dfkey"), str) and self._same_state(e):
                # nothing under its roots or own files moved since it was stored, its
                # Dockerfile included: that Dockerfile's key is the one stored beside it
                self._dfkeys[name] = str(e["dfkey"])
        # the other Dockerfiles' HEAD ids in one `git cat-file`, not one each
        self.prefetch([own_files(i)[0] for n, i in self.config.images.items()
                       if n not in self._dfkeys])
        for name, image in self.config.images.items():
            e = self.store.entries.get(name)
            got = e.get("first") if e is not None else None
            key = self.dockerfile_key(image)
            if key is not None and e is not None and e.get("dfkey") == key and \
                    isinstance(got, list):
                external[name] = tuple(str(x) for x in got)
            else:
                a = first[name]
                external[name] = a.external_images if a else ()
        return first, external

    def inputs(self, reader: Reader, first: Mapping[str, Analysis | None],
               external: Mapping[str, Sequence[str]]) -> dict[str, ImageInputs]:
        """Each image's inputs: reused when its entry, its roots' state and its ancestors'
        chain are the stored ones, else read (the misses' analyses resolved together)."""
        from buildorch.planning.links import config_resolver

        resolver = config_resolver(self.config)
        out: dict[str, ImageInputs] = {}
        missed: dict[str, str | None] = {}
        for name, image in self.config.images.items():
            chain = self.chain(name, external, resolver)
            e = self.store.entries.get(name)
            if chain is not None and e is not None and e.get("spec") == self.spec(image) \
                    and e.get("chain") == chain:
                hit = self._reuse(reader, image, e)
                if hit is not None:
                    self.hits += 1
                    out[name] = hit
                    continue
            self._ran.add(name)
            if self.store.entries.pop(name, None) is not None:
                self.store.touch()   # never left beside inputs read afresh
            missed[name] = chain
        if missed:
            analyses = resolved_analyses(reader, first, list(missed))
            wanted: list[str] = []
            for name in missed:
                a = analyses[name]
                if a is not None:
                    image = self.config.images[name]
                    wanted += [*roots_of(image, a), *own_files(image)]
            self.prefetch(wanted)   # every root read again in one `git cat-file`
            for name, chain in missed.items():
                out[name] = self._fresh(reader, self.config.images[name], first[name],
                                        analyses[name], chain)
        return {name: out[name] for name in self.config.images}

    def _fresh(self, reader: Reader, image: Image, alone: Analysis | None,
               analysis: Analysis | None, chain: str | None) -> ImageInputs:
        """Reads the image's inputs, and stores them when they can be keyed."""
        if analysis is None or alone is None or chain is None:
            return reader.read(image, analysis)
        own = own_files(image)
        if any(os.path.islink(self.tree.root / p) for p in own if p):
            return reader.read(image, analysis)   # read through a link: its target is not keyed
        roots = roots_of(image, analysis)
        # the state before the read: a file written meanwhile changes it, so the next
        # plan reads again rather than trusting what was read here
        state = self.state(roots, own)
        dfkey = self.dockerfile_key(image)
        inputs = reader.read(image, analysis)
        if inputs.missing or dfkey is None:
            return inputs
        if not all(any(is_under(p, r) for r in roots) for p in inputs.files):
            return inputs   # a file outside the roots: this image is not reused
        symlinks = sorted(p for p, i in inputs.files.items() if i.startswith("120000:"))
        raw = json.dumps(dict(inputs.files), separators=(",", ":"),
                         ensure_ascii=False).encode("utf-8", "surrogateescape")
        self.store.put(image.name, {
            "spec": self.spec(image), "dfkey": dfkey,
            "first": list(alone.external_images), "chain": chain,
            "roots": roots, "own": own, "state": state,
            "instructions": inputs.instructions, "args": [list(a) for a in inputs.args],
            "target": inputs.target, "platform": inputs.platform,
            "external": list(inputs.external_images), "notes": list(inputs.notes),
            "origins": dict(inputs.origins),
            "symlinks": symlinks, "sha": hashlib.sha256(raw).hexdigest(),
        }, raw)
        return inputs

    def _same_state(self, e: Mapping[str, object]) -> bool:
        roots, own = e.get("roots"), e.get("own")
        if not (isinstance(roots, list) and all(isinstance(r, str) for r in roots)
                and isinstance(own, list) and all(isinstance(r, str) for r in own)):
            return False
        return e.get("state") == self.state(roots, own)

    def _read_again(self, reader: Reader, image: Image) -> Mapping[str, str]:
        """The file map, read afresh (its stored bytes are gone or damaged)."""
        analysis = resolved_analyses(reader, Analyses(reader), [image.name])[image.name]
        return reader.read(image, analysis).files

    def _reuse(self, reader: Reader, image: Image, e: Mapping[str, object]) -> ImageInputs | None:
        try:
            args = e["args"]
            if not self._same_state(e):
                return None
            links = e["symlinks"]
            assert isinstance(links, list) and isinstance(args, list)
            # where a link leads depends on folders outside the roots: ask again
            if any(self._escape(str(p)) for p in links):
                return None
            target, platform = e["target"], e["platform"]
            external, notes, origins = e["external"], e["notes"], e["origins"]
            assert isinstance(external, list) and isinstance(notes, list)
            assert isinstance(origins, dict)
            files = LazyFiles(self.store.reader(e.get("files")), str(e["sha"]),
                              lambda: self._read_again(reader, image))
            return ImageInputs(
                name=image.name, dockerfile=image.dockerfile,
                instructions=str(e["instructions"]),
                args=tuple((str(k), str(v)) for k, v in args),
                target=None if target is None else str(target),
                platform=None if platform is None else str(platform),
                files=files, external_images=tuple(str(x) for x in external),
                notes=tuple(str(n) for n in notes),
                origins={str(k): str(v) for k, v in origins.items()})
        except (KeyError, TypeError, ValueError, AssertionError):
            return None

    # --- the manifest, without its file maps -----------------------------------------------

    def manifest(self) -> Manifest:
        """`load_manifest`, served from a copy without file maps while the file is the same
        one; an image's file map is read from its own line when a reason needs it."""
        path = self.config.state_dir / MANIFEST
        stamp = manifest_stamp(path)
        slim = self.store.manifest
        if stamp is not None and isinstance(slim, dict) and slim.get("stamp") == stamp:
            try:
                rows = slim["records"]
                assert isinstance(rows, dict)
                return Manifest({str(n): Record(
                    digest=str(d), instructions=str(ins), args=str_mapping(args), target=_opt(t),
                    platform=_opt(pf), parents=str_mapping(ps), dockerfile=str(df),
                    files=_ManifestFiles(path, str(n)) if has_files else None,
                    labels=str_mapping(labels))
                    for n, (d, ins, args, t, pf, ps, has_files, df, labels) in rows.items()})
            except (ValueError, KeyError, TypeError, AttributeError, AssertionError):
                pass
        manifest = load_manifest(self.config.state_dir)
        if stamp is not None and manifest.warning is None and \
                manifest_stamp(path) == stamp:
            self.store.manifest = {"stamp": stamp, "records": {
                n: [r.digest, r.instructions, dict(r.args), r.target, r.platform,
                    dict(r.parents), r.files is not None, r.dockerfile, dict(r.labels)]
                for n, r in manifest.records.items()}}
            self.store.touch()
        return manifest

    # --- digests ------------------------------------------------------------------------

    def digest(self, name: str, parents: Mapping[str, str]) -> str | None:
        """The digest stored with a reused entry for these parents' digests."""
        if name in self._ran:
            return None
        e = self.store.entries.get(name)
        ps = json.dumps(sorted(parents.items()))
        if e is not None and e.get("parents") == ps and isinstance(e.get("digest"), str):
            return str(e["digest"])
        return None

    def remember(self, name: str, parents: Mapping[str, str], digest: str) -> None:
        """Keeps a digest beside the entry it was made from (reused, or stored this run)."""
        e = self.store.entries.get(name)
        ps = json.dumps(sorted(parents.items()))
        if e is not None and (e.get("parents"), e.get("digest")) != (ps, digest):
            e["parents"], e["digest"] = ps, digest
            self.store.touch()

    def save(self) -> None:
        names = set(self.config.images)
        self.store.save(self.stamp, lambda n: n in names)


def _opt(v: object) -> str | None:
    return None if v is None else str(v)


class _ManifestFiles(LazyMapping):
    """An image's file map in the manifest, read from its line on first use (the whole
    manifest if the line cannot be read alone)."""

    def __init__(self, path: Path, name: str) -> None:
        self._path, self._name = path, name
        self._data: Mapping[str, str] | None = None

    def _load(self) -> Mapping[str, str]:
        if self._data is None:
            d = manifest_line(self._path, self._name)
            files = d.get("files") if d is not None else None
            if not isinstance(files, dict):
                r = load_manifest(self._path.parent).records.get(self._name)
                files = r.files if r is not None and r.files is not None else {}
            self._data = files
        return self._data


def _range(paths: Sequence[str], root: str) -> tuple[int, int]:
    """Index range of `root` itself and everything below it in sorted `paths`."""
    if not root:
        return 0, len(paths)
    lo = bisect.bisect_left(paths, root)
    return lo, bisect.bisect_left(paths, root + "0", lo)   # '0' sorts right after '/'
